"""The rendered deployment: probes, security context, labels, databases and Kafka ACLs of every
service in every overlay, plus the alert rules (promtool)."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from notifications.entrypoints import app as notifications_app
from shared.contract import escrow as escrow_wire

OVERLAYS = ("dev", "prod")
SERVICES = {"escrow": 8001, "payments": 8002, "disputes": 8003, "notifications": 8004}
RECOMMENDED = ("name", "instance", "component", "part-of", "version", "managed-by")
RECONCILE = "escrow-suite-reconcile"
#: what `escrowctl reconcile` reads: GET /ledger/totals of these services, via <NAME>_URL
RECONCILE_READS = ("escrow", "payments")


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def secret_ref(container: dict[str, Any], name: str) -> Any:
    """The Secret and key the container's variable `name` is read from."""
    return env_of(container)[name]["valueFrom"]["secretKeyRef"]


def test_generated_files_equal_a_fresh_generation(check: Any) -> None:
    assert check.check_generated(check.DEPLOY) == []


def test_every_overlay_is_there(rendered: dict[str, Any]) -> None:
    assert set(OVERLAYS) <= set(rendered)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_resources_validate(
    check: Any, rendered: dict[str, Any], overlay: str, crd_schemas: Path
) -> None:
    assert check.validate_core(rendered[overlay], crd_schemas) == []


CUSTOM_KINDS = {"KafkaTopic", "KafkaUser", "Cluster", "PodMonitor", "PrometheusRule"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_resources_validate_against_their_schemas(
    check: Any, rendered: dict[str, Any], overlay: str, crd_schemas: Path
) -> None:
    docs = rendered[overlay]
    # prod: backups (the dev overlay has none) and the PSP callbacks' route
    extra = {"ObjectStore", "ScheduledBackup", "HTTPRoute"} if overlay == "prod" else set()
    assert {d["kind"] for d in docs if check.is_custom(d, crd_schemas)} == CUSTOM_KINDS | extra
    assert check.validate_custom(docs, crd_schemas) == []


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
    assert app["ports"][0] == {"name": "http", "containerPort": port, "protocol": "TCP"}
    assert app["args"] == [service], "the service runs `python -m <service>` (serve)"
    assert app["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert app["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert app["resources"]["requests"] and app["resources"]["limits"]["memory"]
    env = env_of(app)
    assert env["HTTP_PORT"]["value"] == str(port)
    assert env["HTTP_HOST"]["value"] == "0.0.0.0"
    # dev: payments runs in development against the sandbox (the sandbox is refused in production)
    production = (overlay, service) != ("dev", "payments")
    assert env["ENVIRONMENT"]["value"] == ("production" if production else "development")
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


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_a_service_that_seals_at_rest_gets_its_keys_from_a_secret_in_pod_and_job(
    rendered: dict[str, Any], overlay: str, service: str
) -> None:
    settings = importlib.import_module(f"{service}.settings")
    (cls,) = [
        v
        for v in vars(settings).values()
        if isinstance(v, type)
        and v.__name__.endswith("Settings")
        and v.__module__ == settings.__name__
    ]
    docs = rendered[overlay]
    (app,) = find(docs, "Deployment", service)["spec"]["template"]["spec"]["containers"]
    (job,) = find(docs, "Job", f"{service}-migrate")["spec"]["template"]["spec"]["containers"]
    for container in (app, job):
        keys = env_of(container).get("SEALING_KEYS")
        if cls.SEALS_AT_REST:
            assert keys is not None, f"{service} seals at rest: it needs SEALING_KEYS"
            assert keys["valueFrom"]["secretKeyRef"] == {
                "name": f"{service}-sealing",
                "key": "keys",
            }
        else:
            assert keys is None


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_signs_with_its_key_and_verifies_with_the_ring_from_secrets(
    rendered: dict[str, Any], overlay: str, service: str
) -> None:
    # production refuses to start without SIGNING_KEY and EVENT_KEYS (issue 12 point 4): the
    # migrate Job builds the same settings as the pod, so both need them
    docs = rendered[overlay]
    (app,) = find(docs, "Deployment", service)["spec"]["template"]["spec"]["containers"]
    (job,) = find(docs, "Job", f"{service}-migrate")["spec"]["template"]["spec"]["containers"]
    for container in (app, job):
        assert secret_ref(container, "SIGNING_KEY") == {
            "name": f"{service}-signing",
            "key": "key",
        }
        assert secret_ref(container, "EVENT_KEYS") == {
            "name": "escrow-suite-event-keys",
            "key": "ring",
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_notifications_mails_through_an_smtp_server_with_starttls_and_credentials_from_secrets(
    rendered: dict[str, Any], overlay: str
) -> None:
    # production refuses SMTP without STARTTLS or on the pod's own host: the server is a plain
    # setting of the overlay, the credentials are Secrets (SMS optional: no Secret, no SMS)
    from notifications.settings import NotificationsSettings

    docs = rendered[overlay]
    deployment = find(docs, "Deployment", "notifications")
    job = find(docs, "Job", "notifications-migrate")
    for workload in (deployment, job):
        (app,) = workload["spec"]["template"]["spec"]["containers"]
        found = env_of(app)
        for name, secret, key in (
            ("SMTP_USERNAME", "notifications-smtp", "username"),
            ("SMTP_PASSWORD", "notifications-smtp", "password"),
            ("SMS_API_KEY", "notifications-sms", "api-key"),
            ("SMS_SENDER", "notifications-sms", "sender"),
        ):
            assert name.lower() in NotificationsSettings.model_fields
            ref = secret_ref(app, name)
            assert (ref["name"], ref["key"]) == (secret, key)
            assert ref.get("optional", False) is name.startswith("SMS_")
        assert found["SMTP_STARTTLS"]["value"] == "true"
        (own,) = [s["configMapRef"]["name"] for s in app["envFrom"] if "notifications" in str(s)]
        settings = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == own]
        assert settings[0]["data"]["SMTP_HOST"], "the overlay names the mail server"


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions In/NotIn/Exists) on labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        value, op = labels.get(e["key"]), e["operator"]
        if op == "In" and value not in e["values"]:
            return False
        if op == "NotIn" and value in e["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_reconcile_is_probed_restricted_and_labelled(
    rendered: dict[str, Any], overlay: str
) -> None:
    docs = rendered[overlay]
    assert not of_kind(docs, "CronJob"), "reconciliation is a long-running Deployment"
    deployment = find(docs, "Deployment", RECONCILE)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for labels in (deployment["metadata"]["labels"], pod_labels):
        for key in RECOMMENDED:
            assert labels.get(f"app.kubernetes.io/{key}"), f"reconcile: no app.kubernetes.io/{key}"
        assert labels["app.kubernetes.io/name"] == "reconcile"
        assert labels["app.kubernetes.io/part-of"] == "escrow-suite"
    selector = deployment["spec"]["selector"]
    assert selects(selector, pod_labels)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    assert find(docs, "ServiceAccount", pod["serviceAccountName"])
    assert pod["terminationGracePeriodSeconds"] > 0
    assert not pod.get("initContainers")
    (app,) = pod["containers"]
    assert app["command"][-6:] == [
        "escrowctl",
        "reconcile",
        "--every",
        "300",
        "--metrics-port",
        "9108",
    ]
    assert app["command"][:2] == ["/usr/bin/tini", "--"], "tini stays PID 1 (the image's own)"
    assert app["ports"] == [{"name": "metrics", "containerPort": 9108, "protocol": "TCP"}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert app[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert app["resources"]["requests"] and app["resources"]["limits"]["memory"]
    security = app["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["runAsNonRoot"] is True
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    volumes = {v["name"]: v for v in pod["volumes"]}
    tmp = [m for m in app["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert tmp and "emptyDir" in volumes[tmp[0]["name"]]
    pdb = find(docs, "PodDisruptionBudget", RECONCILE)
    assert pdb["spec"]["selector"] == selector
    assert pdb["spec"].get("maxUnavailable") == 1, "a single pod must not block node drains"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_reconcile_reads_the_read_apis_never_a_database(
    rendered: dict[str, Any], overlay: str
) -> None:
    docs = rendered[overlay]
    pod = find(docs, "Deployment", RECONCILE)["spec"]["template"]["spec"]
    (app,) = pod["containers"]
    env = env_of(app)
    for service in RECONCILE_READS:
        svc = find(docs, "Service", service)
        port = svc["spec"]["ports"][0]["port"]
        assert env[f"{service.upper()}_URL"]["value"] == f"http://{service}:{port}"
    assert not any("valueFrom" in e for e in env.values()), "no secret, no database credentials"
    assert not any("DATABASE" in name or name.startswith("DB_") for name in env)
    assert not app.get("envFrom"), "not even the settings ConfigMap"
    # one Secret: the operator key it signs its read tokens with (issue 12 point 5)
    secrets = [v["secret"] for v in pod["volumes"] if "secret" in v]
    assert secrets == [
        {
            "secretName": "escrow-suite-operator-token",
            "items": [{"key": "private.pem", "path": "private.pem"}],
        }
    ]
    assert env["OPERATOR_TOKEN_PRIVATE_KEY_FILE"]["value"].endswith("/private.pem")
    assert not any(k in str(pod) for k in ("-db-app", "secretKeyRef")), (
        "no database secret anywhere in the pod"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_psp_callbacks_have_a_listener_and_a_service_of_their_own(
    rendered: dict[str, Any], overlay: str
) -> None:
    docs = rendered[overlay]
    (app,) = find(docs, "Deployment", "payments")["spec"]["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in app["ports"]} == {"http": 8002, "public": 8012}
    env = env_of(app)
    assert (env["PUBLIC_HTTP_HOST"]["value"], env["PUBLIC_HTTP_PORT"]["value"]) == (
        "0.0.0.0",
        "8012",
    )
    public = find(docs, "Service", "payments-public")
    assert [(p["port"], p["targetPort"]) for p in public["spec"]["ports"]] == [(8012, "public")]
    internal = find(docs, "Service", "payments")
    assert [p["targetPort"] for p in internal["spec"]["ports"]] == ["http"]
    for service in SERVICES:  # every service takes the reconciler's operator tokens
        (pod,) = find(docs, "Deployment", service)["spec"]["template"]["spec"]["containers"]
        assert secret_ref(pod, "OPERATOR_TOKEN_PUBLIC_KEY") == {
            "name": "escrow-suite-operator-token",
            "key": "public.pem",
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_podmonitor_scrapes_every_service_and_the_reconciler(
    rendered: dict[str, Any], overlay: str
) -> None:
    docs = rendered[overlay]
    (monitor,) = of_kind(docs, "PodMonitor")
    endpoints = {e["port"]: e for e in monitor["spec"]["podMetricsEndpoints"]}
    for name in (*SERVICES, RECONCILE):
        pod = find(docs, "Deployment", name)["spec"]["template"]
        assert selects(monitor["spec"]["selector"], pod["metadata"]["labels"]), name
        (app,) = pod["spec"]["containers"]
        scraped = [p["name"] for p in app["ports"] if p["name"] in endpoints]
        assert len(scraped) == 1, f"{name}: scraped on exactly one port, not {scraped}"
        assert endpoints[scraped[0]]["path"] == "/metrics"


def test_prod_is_highly_available(rendered: dict[str, Any]) -> None:
    docs = rendered["prod"]
    assert all(
        d["spec"]["replicas"] >= 2
        for d in of_kind(docs, "Deployment")
        if d["metadata"]["name"] != RECONCILE
    )
    assert find(docs, "Deployment", RECONCILE)["spec"]["replicas"] == 1, "one reconciler"
    assert all(d["spec"]["instances"] >= 3 for d in of_kind(docs, "Cluster"))
    assert all(t["spec"]["replicas"] >= 3 for t in of_kind(docs, "KafkaTopic"))


def test_pods_meet_the_restricted_standard_namespace(rendered: dict[str, Any]) -> None:
    for overlay in OVERLAYS:
        (namespace,) = of_kind(rendered[overlay], "Namespace")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- Kafka ---------------------------------------------------------------------------------------


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
        # every escrow event that carries the escrow's snapshot, from which disputes learns
        "disputes": {
            "dispute-commands",
            "escrow-dispute-rejected",
            *(m.TOPIC for m in escrow_wire.EVENTS if issubclass(m, escrow_wire.EscrowEvent)),
        },
        # the public events its rules table tells someone about (see notifications' rules)
        "notifications": set(notifications_app.build().runtime.topics),
    }
    assert expected_reads["notifications"] >= {"user-contacts", "escrow-funded", "verdict-issued"}
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
    (down,) = [r for r in rules if r.get("alert") == "EscrowSuiteServiceDown"]
    assert all(job in down["expr"] for job in (*SERVICES, "reconcile")), (
        "a dead reconciler would silence the reconciliation alert"
    )


# --- backups -------------------------------------------------------------------------------------


def test_every_prod_database_archives_its_wal_and_is_backed_up_daily(
    rendered: dict[str, Any],
) -> None:
    docs = rendered["prod"]
    stores = {d["metadata"]["name"]: d for d in of_kind(docs, "ObjectStore")}
    scheduled = {d["spec"]["cluster"]["name"]: d for d in of_kind(docs, "ScheduledBackup")}
    for service in SERVICES:
        cluster = find(docs, "Cluster", f"{service}-db")
        (plugin,) = cluster["spec"]["plugins"]
        assert plugin["name"] == "barman-cloud.cloudnative-pg.io"
        assert plugin["isWALArchiver"] is True
        store = stores[plugin["parameters"]["barmanObjectName"]]
        config = store["spec"]["configuration"]
        assert config["destinationPath"].startswith("s3://")
        assert config["endpointURL"].startswith("https://")
        assert "set-by-the-overlay" not in str(config), "the prod overlay names bucket and endpoint"
        credentials = config["s3Credentials"]
        assert {c["name"] for c in credentials.values()} == {"escrow-suite-backup-s3"}
        assert "serverName" not in config, "the plugin's server name is the Cluster's"
        assert store["spec"]["retentionPolicy"] == "30d"
        backup = scheduled[f"{service}-db"]["spec"]
        assert backup["method"] == "plugin"
        assert backup["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
        assert backup["backupOwnerReference"] == "self"
        _seconds, _minutes, hours, *every_day = backup["schedule"].split()
        assert every_day == ["*", "*", "*"] and hours.isdigit(), "daily (six fields, seconds first)"
    assert len(stores) == len(scheduled) == len(SERVICES)


def test_dev_has_no_backups(rendered: dict[str, Any]) -> None:
    docs = rendered["dev"]
    assert not of_kind(docs, "ObjectStore") and not of_kind(docs, "ScheduledBackup")
    assert not any("plugins" in c["spec"] for c in of_kind(docs, "Cluster"))


def test_the_database_switch_patch_points_pods_and_job_at_the_recovered_cluster(
    generate: Any, check: Any, kubectl: str, tmp_path: Path
) -> None:
    # deploy/README.md "Restore": `generate.py --database-switch payments payments-db-2`
    overlay = tmp_path / "restore"
    overlay.mkdir()
    (overlay / "switch.yaml").write_text(
        generate.dump(generate.database_switch("payments", "payments-db-2"))
    )
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(check.DEPLOY / "overlays" / "prod", overlay)],
                "patches": [{"path": "switch.yaml"}],
            }
        )
    )
    docs = check.render(overlay, kubectl)
    deployment = find(docs, "Deployment", "payments")["spec"]["template"]["spec"]
    job = find(docs, "Job", "payments-migrate")["spec"]["template"]["spec"]
    for container in [*deployment["initContainers"], *deployment["containers"], *job["containers"]]:
        names = [e["name"] for e in container["env"]]
        for var in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"):
            assert secret_ref(container, var)["name"] == "payments-db-2-app", container["name"]
            # $(VAR) expands only variables defined before DATABASE_URL
            assert names.index(var) < names.index("DATABASE_URL")
    assert "payments-db-app" not in str(find(docs, "Deployment", "payments"))
    assert "escrow-db-app" in str(find(docs, "Deployment", "escrow")), "the others are untouched"


# --- the PSP callbacks' route --------------------------------------------------------------------


def test_the_only_way_in_from_outside_is_the_psp_callbacks_on_the_public_port(
    rendered: dict[str, Any],
) -> None:
    docs = rendered["prod"]
    assert not of_kind(rendered["dev"], "HTTPRoute")
    assert not of_kind(docs, "Ingress")
    (route,) = of_kind(docs, "HTTPRoute")
    assert route["spec"]["parentRefs"], "attached to the platform's Gateway"
    public = find(docs, "Service", "payments-public")
    public_ports = {p["port"] for p in public["spec"]["ports"]}
    (app,) = find(docs, "Deployment", "payments")["spec"]["template"]["spec"]["containers"]
    assert {p["name"] for p in app["ports"] if p["containerPort"] in (8012,)} == {"public"}
    paths = set()
    for rule in route["spec"]["rules"]:
        assert rule["backendRefs"], "no rule without a backend"
        for backend in rule["backendRefs"]:
            assert backend.get("kind", "Service") == "Service"
            assert backend["name"] == "payments-public", "never the internal Service `payments`"
            assert backend["port"] in public_ports == {8012}
        assert rule["matches"], "a rule without matches would take every path"
        for match in rule["matches"]:
            assert match["path"]["type"] == "Exact"
            paths.add(match["path"]["value"])
        assert not rule.get("filters"), "no rewrite to another path"
    # exactly the callbacks of the PSPs prod routes payments to (PAYMENT_GATEWAYS), no sandbox
    (settings,) = [
        d
        for d in of_kind(docs, "ConfigMap")
        if d["metadata"]["name"].startswith("payments-settings")
    ]
    psps = set(json.loads(settings["data"]["PAYMENT_GATEWAYS"]).values())
    assert (
        paths
        == {f"/callbacks/{psp}" for psp in psps}
        == {
            "/callbacks/zarinpal",
            "/callbacks/stripe",
        }
    )
    hosts = route["spec"]["hostnames"]
    assert [f"https://{h}" for h in hosts] == [settings["data"]["PUBLIC_URL"]]


# --- External Secrets ----------------------------------------------------------------------------


def test_the_external_secrets_component_writes_every_secret_the_platform_provides(
    generate: Any, check: Any, kubectl: str, rendered: dict[str, Any], crd_schemas: Path
) -> None:
    prod = check.DEPLOY / "overlays" / "prod"
    component = check.DEPLOY / "components" / "external-secrets"
    docs = check.render(prod, kubectl, [component])
    assert check.validate_custom(docs, crd_schemas) == []
    written = {
        e["spec"]["target"]["name"]: {d["secretKey"] for d in e["spec"]["data"]}
        for e in of_kind(docs, "ExternalSecret")
    }
    assert {e["metadata"]["namespace"] for e in of_kind(docs, "ExternalSecret")} == {"escrow-suite"}
    # every Secret key the prod pods read, but CloudNativePG's and Strimzi's own
    operators = {f"{s}-db-app" for s in SERVICES} | set(SERVICES) | {"escrow-kafka-cluster-ca-cert"}
    read: dict[str, set[str]] = {}
    text = yaml.safe_dump_all(rendered["prod"])
    for doc in yaml.safe_load_all(text):
        for ref in secret_refs(doc):
            if ref[0] not in operators:
                read.setdefault(ref[0], set()).add(ref[1])
    for secret, keys in read.items():
        assert secret in written, f"no ExternalSecret for {secret}"
        assert keys <= written[secret], secret
    assert set(written) == set(generate.SECRETS)


def secret_refs(node: Any) -> list[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef, secret volume item and S3 credential below node."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            found.append((node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]))
        if "secretName" in node:
            found += [(node["secretName"], i["key"]) for i in node.get("items", [])]
        for key in ("accessKeyId", "secretAccessKey"):
            if isinstance(node.get(key), dict):
                found.append((node[key]["name"], node[key]["key"]))
        for value in node.values():
            found += secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            found += secret_refs(value)
    return found
