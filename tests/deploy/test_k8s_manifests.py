"""The rendered deployment: probes, security context, labels, databases and Kafka ACLs of every
service in every overlay, plus the alert rules (promtool)."""

from __future__ import annotations

from typing import Any

import pytest

OVERLAYS = ("dev", "prod")
SERVICES = {"escrow": 8001, "payments": 8002, "disputes": 8003, "notifications": 8004}
RECOMMENDED = ("name", "instance", "component", "part-of", "version", "managed-by")


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_generated_files_equal_a_fresh_generation(check: Any) -> None:
    assert check.check_generated(check.DEPLOY) == []


def test_every_overlay_is_there(rendered: dict[str, Any]) -> None:
    assert set(OVERLAYS) <= set(rendered)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_resources_validate(check: Any, rendered: dict[str, Any], overlay: str) -> None:
    assert check.validate_core(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_resources_validate_against_their_schemas(
    check: Any, rendered: dict[str, Any], overlay: str
) -> None:
    docs = rendered[overlay]
    assert {d["kind"] for d in docs if check.is_custom(d)} == {
        "KafkaTopic",
        "KafkaUser",
        "Cluster",
        "PodMonitor",
        "PrometheusRule",
    }
    assert check.validate_custom(docs, check.DEPLOY / "schemas") == []


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_deployment_is_probed_restricted_and_labelled(
    rendered: dict[str, Any], overlay: str, service: str
) -> None:
    docs = rendered[overlay]
    deployment = find(docs, "Deployment", service)
    for labels in (
        deployment["metadata"]["labels"],
        deployment["spec"]["template"]["metadata"]["labels"],
    ):
        for key in RECOMMENDED:
            assert labels.get(f"app.kubernetes.io/{key}"), f"{service}: no app.kubernetes.io/{key}"
        assert labels["app.kubernetes.io/name"] == service
        assert labels["app.kubernetes.io/part-of"] == "escrow-suite"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    (app,) = pod["containers"]
    port = SERVICES[service]
    assert app["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert app["args"] == [service], "the service runs `python -m <service>` (serve)"
    assert app["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert app["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert app["resources"]["requests"] and app["resources"]["limits"]["memory"]
    env = env_of(app)
    assert env["HTTP_PORT"]["value"] == str(port)
    assert env["HTTP_HOST"]["value"] == "0.0.0.0"
    assert env["ENVIRONMENT"]["value"] == "production"
    assert pod["terminationGracePeriodSeconds"] > float(env["GRACEFUL_TIMEOUT_S"]["value"]) + 5
    assert env["DATABASE_URL"]["value"].startswith(
        "postgresql+asyncpg://$(DB_USER):$(DB_PASSWORD)@"
    )
    for var in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"):
        assert env[var]["valueFrom"]["secretKeyRef"]["name"] == f"{service}-db-app"
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": service,
        "key": "password",
    }
    assert env["KAFKA_SASL_USERNAME"]["value"] == service
    assert not any("value" in e and "password" in e["name"].lower() for e in env.values()), (
        "secrets are referenced, never inlined"
    )
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in [*pod["initContainers"], app]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["runAsNonRoot"] is True
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert tmp and "emptyDir" in volumes[tmp[0]["name"]]
        assert "migrate" not in container.get("args", []), "migrations run in the Job, not on start"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_service_pdb_migrations_and_database(
    rendered: dict[str, Any], overlay: str, service: str
) -> None:
    docs = rendered[overlay]
    selector = find(docs, "Deployment", service)["spec"]["selector"]["matchLabels"]
    svc = find(docs, "Service", service)
    assert svc["spec"]["selector"] == selector
    assert svc["spec"]["ports"][0]["port"] == SERVICES[service]
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    pdb = find(docs, "PodDisruptionBudget", service)
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    job = find(docs, "Job", f"{service}-migrate")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["args"] == [service, "migrate"]
    assert migrate["securityContext"]["readOnlyRootFilesystem"] is True
    cluster = find(docs, "Cluster", f"{service}-db")
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": service, "owner": service}
    assert cluster["spec"]["enableSuperuserAccess"] is False


def test_prod_is_highly_available(rendered: dict[str, Any]) -> None:
    docs = rendered["prod"]
    assert all(d["spec"]["replicas"] >= 2 for d in of_kind(docs, "Deployment"))
    assert all(d["spec"]["instances"] >= 3 for d in of_kind(docs, "Cluster"))
    assert all(t["spec"]["replicas"] >= 3 for t in of_kind(docs, "KafkaTopic"))


def test_pods_meet_the_restricted_standard_namespace(rendered: dict[str, Any]) -> None:
    for overlay in OVERLAYS:
        (namespace,) = of_kind(rendered[overlay], "Namespace")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- Kafka -------------------------------------------------------------------------------------


def acls(user: dict[str, Any], operation: str, kind: str = "topic") -> set[str]:
    return {
        a["resource"]["name"]
        for a in user["spec"]["authorization"]["acls"]
        if a["resource"]["type"] == kind and operation in a["operations"]
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_and_dead_letter_topic_exists(
    generate: Any, rendered: dict[str, Any], overlay: str
) -> None:
    topics = {t["spec"]["topicName"]: t for t in of_kind(rendered[overlay], "KafkaTopic")}
    from shared.contract.registry import all_topics, topics_with_dlq

    assert set(topics) == set(topics_with_dlq(all_topics()))
    assert topics["user-contacts"]["spec"]["config"]["cleanup.policy"] == "compact"
    assert all(
        t["spec"]["config"]["cleanup.policy"] == "delete"
        and t["spec"]["config"]["retention.ms"] > 0
        for name, t in topics.items()
        if name != "user-contacts"
    )
    assert all(t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_users_write_only_their_topics_and_read_what_they_consume(
    generate: Any, rendered: dict[str, Any], overlay: str
) -> None:
    docs = rendered[overlay]
    topics = {t["spec"]["topicName"] for t in of_kind(docs, "KafkaTopic")}
    users = {u["metadata"]["name"]: u for u in of_kind(docs, "KafkaUser")}
    assert set(SERVICES) <= set(users)
    events = generate.EVENTS_BY_CONTEXT
    expected_reads = {
        "escrow": {
            "escrow-commands",
            "payment-received",
            "dispute-opened",
            "dispute-withdrawn",
            "verdict-issued",
        },
        "payments": {
            "payment-commands",
            "escrow-released",
            "escrow-settled",
            "escrow-refunded",
            "funding-rejected",
        },
        "disputes": {"dispute-commands", *generate.ESCROW_LIFECYCLE_TOPICS},
        "notifications": {
            "user-contacts",
            *events["escrow"],
            *events["payments"],
            *events["disputes"],
        },
    }
    assert "funding-rejected" not in expected_reads["disputes"]
    assert {"work-delivered", "changes-requested", "escrow-released"} <= expected_reads["disputes"]
    for service, context in (
        ("escrow", "escrow"),
        ("payments", "payments"),
        ("disputes", "disputes"),
        ("notifications", None),
    ):
        user = users[service]
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        reads, writes = acls(user, "Read"), acls(user, "Write")
        assert reads == expected_reads[service]
        own = set(events[context]) if context else set()
        results = {"command-results"} if context else set()
        assert writes == own | results | {f"{t}.dlq" for t in reads}
        assert (reads | writes) <= topics, "every ACL names a topic that exists"
        groups = [
            a for a in user["spec"]["authorization"]["acls"] if a["resource"]["type"] == "group"
        ]
        assert groups == [
            {
                "type": "allow",
                "resource": {"type": "group", "name": service, "patternType": "literal"},
                "operations": ["Read"],
            }
        ]
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["type"] in ("topic", "group")
            assert not {"All", "Create", "Delete", "Alter", "AlterConfigs"} & set(acl["operations"])
            assert acl["resource"]["patternType"] == "literal"
    # each event topic has exactly one writer among the services: its context
    for context, topics_of in events.items():
        for topic in topics_of:
            writers = {s for s in SERVICES if topic in acls(users[s], "Write")}
            assert writers == ({context} if context in SERVICES else set()), topic
    assert {s for s in SERVICES if "command-results" in acls(users[s], "Write")} == {
        "escrow",
        "payments",
        "disputes",
    }


# --- alerts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_alert_rules_pass_promtool_check_and_unit_tests(
    check: Any, rendered: dict[str, Any], overlay: str, promtool: str
) -> None:
    assert check.check_rules(rendered[overlay], check.DEPLOY, promtool) == []


def test_alerts_cover_what_matters_for_money(check: Any, rendered: dict[str, Any]) -> None:
    rules = [r for g in check.rules_of(rendered["prod"])["groups"] for r in g["rules"]]
    expressions = " ".join(r["expr"] for r in rules)
    for metric in (
        "escrow_suite_dead_lettered_total",
        "escrow_suite_outbox_backlog",
        "escrow_suite_outbox_oldest_age_seconds",
        "escrow_suite_handler_retries_total",
        "kafka_consumergroup_lag",
        "escrow_suite_reconciliation_difference",
        'escrow_suite_payouts_total{status="failed"}',
        'escrow_suite_refunds_total{status="failed"}',
        "escrow_suite_dispute_deadlines_missed_total",
    ):
        assert metric in expressions, metric
    assert all(r["labels"]["severity"] in ("warning", "critical") for r in rules)
