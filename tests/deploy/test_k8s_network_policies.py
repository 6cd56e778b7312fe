"""The prod overlay's NetworkPolicies: ingress denied to every pod of the namespace, then each
listener opened to exactly the peers that need it (deploy/README.md, "NetworkPolicies"), and the
Kafka listener's peers that deploy/README.md asks of the platform's Kafka resource."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "escrow-suite"
SERVICES = ("escrow", "payments", "disputes", "notifications")
RECONCILE = "Deployment/escrow-suite-reconcile"
#: what `escrowctl reconcile` reads: GET /ledger/totals of these services
RECONCILE_READS = ("escrow", "payments")
POSTGRES, CNPG_STATUS, CNPG_METRICS = 5432, 8000, 9187
KAFKA_EXPORTER = "Pod/escrow-kafka-kafka-exporter"


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) on a set of labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        value, op = labels.get(e["key"]), e["operator"]
        if (
            (op == "In" and value not in e["values"])
            or (op == "NotIn" and value in e["values"])
            or (op == "Exists" and value is None)
            or (op == "DoesNotExist" and value is not None)
        ):
            return False
    return True


@dataclass
class Pod:
    labels: dict[str, str]
    #: container port name -> number (to resolve a policy's named ports)
    ports: dict[str, int] = field(default_factory=dict)


def pods_of(docs: list[dict[str, Any]]) -> dict[str, Pod]:
    """Every pod the prod overlay makes run in the namespace: the Deployments' and Jobs'
    templates, and the pods the operators create with the labels they give them (CloudNativePG:
    `cnpg.io/cluster` and the Cluster's inheritedMetadata; Strimzi's Kafka Exporter, when the
    Kafka cluster lives in this namespace)."""
    found: dict[str, Pod] = {}
    for d in [*of_kind(docs, "Deployment"), *of_kind(docs, "Job")]:
        template = d["spec"]["template"]
        ports = {
            p["name"]: p["containerPort"]
            for c in template["spec"]["containers"]
            for p in c.get("ports", [])
        }
        found[f"{d['kind']}/{d['metadata']['name']}"] = Pod(template["metadata"]["labels"], ports)
    for c in of_kind(docs, "Cluster"):
        name = c["metadata"]["name"]
        inherited = c["spec"].get("inheritedMetadata", {}).get("labels", {})
        labels = {"cnpg.io/cluster": name, "cnpg.io/podRole": "instance", **inherited}
        found[f"Cluster/{name}"] = Pod(labels, {"postgresql": POSTGRES, "metrics": CNPG_METRICS})
    found[KAFKA_EXPORTER] = Pod(
        {
            "strimzi.io/cluster": "escrow-kafka",
            "strimzi.io/kind": "Kafka",
            "strimzi.io/name": "escrow-kafka-kafka-exporter",
        },
        {"tcp-prometheus": 9404},
    )
    return found


def outside(peer: dict[str, Any]) -> str:
    """A readable name of a peer outside the namespace (or of an IP block)."""
    return json.dumps(peer, sort_keys=True)


@dataclass
class Admitted:
    #: pods of the namespace (names of pods_of)
    pods: set[str] = field(default_factory=set)
    #: peers with a namespaceSelector or an ipBlock (outside())
    outside: set[str] = field(default_factory=set)


def admitted(docs: list[dict[str, Any]], target: str, port: int) -> Admitted:
    """Who may open a TCP connection to `port` of the pod `target`, by every NetworkPolicy of
    the namespace that selects it (they add up)."""
    pods = pods_of(docs)
    pod = pods[target]
    found = Admitted()
    for policy in of_kind(docs, "NetworkPolicy"):
        spec = policy["spec"]
        if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
            continue
        if not selects(spec["podSelector"], pod.labels):
            continue
        for rule in spec.get("ingress", []):
            ports = [
                p["port"] if isinstance(p["port"], int) else pod.ports.get(p["port"])
                for p in rule.get("ports", [])
                if p.get("protocol", "TCP") == "TCP"
            ]
            if rule.get("ports") and port not in ports:
                continue
            peers = rule.get("from")
            if not peers:
                found.outside.add("anyone")
                continue
            for peer in peers:
                if "namespaceSelector" in peer or "ipBlock" in peer:
                    found.outside.add(outside(peer))
                else:
                    found.pods |= {
                        n for n, p in pods.items() if selects(peer["podSelector"], p.labels)
                    }
    return found


def peer(namespace: str, pods: dict[str, str]) -> str:
    selected: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    if pods:
        selected["podSelector"] = {"matchLabels": pods}
    return outside(selected)


@pytest.fixture(scope="module")
def prod(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered["prod"]


@pytest.fixture(scope="module")
def prometheus(generate: Any) -> str:
    return peer(generate.MONITORING_NAMESPACE, generate.PROMETHEUS_PODS)


@pytest.fixture(scope="module")
def marketplace(generate: Any) -> str:
    return peer(generate.MARKETPLACE_NAMESPACE, generate.MARKETPLACE_PODS)


@pytest.fixture(scope="module")
def gateway(generate: Any) -> str:
    return peer(generate.GATEWAY_NAMESPACE, generate.GATEWAY_PODS)


@pytest.fixture(scope="module")
def cnpg_operator(generate: Any) -> str:
    return peer(generate.CNPG_OPERATOR_NAMESPACE, generate.CNPG_OPERATOR_PODS)


def container_port(docs: list[dict[str, Any]], service: str, port: int) -> tuple[str, int]:
    """The Deployment pod and container port a Service's `port` reaches (via its targetPort)."""
    svc = find(docs, "Service", service)
    (target,) = [p["targetPort"] for p in svc["spec"]["ports"] if p["port"] == port]
    (deployment,) = [
        d
        for d in of_kind(docs, "Deployment")
        if selects(
            {"matchLabels": svc["spec"]["selector"]}, d["spec"]["template"]["metadata"]["labels"]
        )
    ]
    name = f"Deployment/{deployment['metadata']['name']}"
    return name, pods_of(docs)[name].ports[target]


def test_prod_denies_ingress_to_every_pod_of_the_namespace_by_default(
    prod: list[dict[str, Any]],
) -> None:
    policies = of_kind(prod, "NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert len(deny) == 1, "one policy selects every pod of the namespace"
    assert deny[0]["spec"]["policyTypes"] == ["Ingress"]
    assert not deny[0]["spec"].get("ingress"), "and admits nothing"
    assert {p["metadata"]["namespace"] for p in policies} == {NAMESPACE}
    for policy in policies:
        # egress stays open (deploy/README.md says why): no policy isolates a pod's egress
        assert policy["spec"]["policyTypes"] == ["Ingress"], policy["metadata"]["name"]
        for rule in policy["spec"].get("ingress", []):
            # a rule without `from` admits every source, one without `ports` every port
            assert rule.get("from") and rule.get("ports"), policy["metadata"]["name"]
            for source in rule["from"]:
                # never an IP block, every pod of the namespace, or every namespace at once
                assert "ipBlock" not in source, policy["metadata"]["name"]
                if "namespaceSelector" in source:
                    assert source["namespaceSelector"], policy["metadata"]["name"]
                else:
                    assert source["podSelector"], policy["metadata"]["name"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_internal_port_admits_only_the_peers_that_need_it(
    prod: list[dict[str, Any]], service: str, prometheus: str, marketplace: str
) -> None:
    port = find(prod, "Service", service)["spec"]["ports"][0]["port"]
    pod, container = container_port(prod, service, port)
    assert container == port
    got = admitted(prod, pod, container)
    # the reconciler reads GET /ledger/totals of escrow and payments; nothing of the suite else
    # speaks HTTP to a service (they talk through Kafka)
    assert got.pods == ({RECONCILE} if service in RECONCILE_READS else set())
    # /metrics: Prometheus; the read API: the marketplace's back end; health: the kubelet
    assert got.outside == {prometheus, marketplace}
    # the migrate Job's pods share the service's name labels but listen on nothing
    job = admitted(prod, f"Job/{service}-migrate", container)
    assert not job.pods and not job.outside


def test_payments_public_port_admits_the_gateway_and_is_not_the_internal_port(
    prod: list[dict[str, Any]], gateway: str, prometheus: str
) -> None:
    (route,) = of_kind(prod, "HTTPRoute")
    backends = {(b["name"], b["port"]) for r in route["spec"]["rules"] for b in r["backendRefs"]}
    assert backends == {("payments-public", 8012)}
    pod, public = container_port(prod, "payments-public", 8012)
    _, internal = container_port(prod, "payments", 8002)
    assert pod == "Deployment/payments" and public == 8012 != internal == 8002
    assert admitted(prod, pod, public) == Admitted(set(), {gateway})
    # the Gateway reaches the callbacks alone: not the read API, /metrics, health
    assert gateway not in admitted(prod, pod, internal).outside
    for name, other in pods_of(prod).items():
        for port in other.ports.values():
            if (name, port) != (pod, public):
                assert gateway not in admitted(prod, name, port).outside, (name, port)
    # by default the Gateway's proxies run in the Gateway's namespace (the route's parentRef);
    # an implementation running them elsewhere changes GATEWAY_NAMESPACE and this line
    (parent,) = route["spec"]["parentRefs"]
    assert json.loads(gateway)["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": parent["namespace"]
    }


@pytest.mark.parametrize("service", SERVICES)
def test_each_database_admits_only_its_service_its_migrate_job_and_the_operator(
    prod: list[dict[str, Any]], service: str, cnpg_operator: str
) -> None:
    cluster = f"Cluster/{service}-db"
    # CloudNativePG: the operator reaches every instance on 5432 and 8000 (its status port),
    # and the instances reach each other (replication, a joining replica, pg_rewind)
    assert admitted(prod, cluster, POSTGRES) == Admitted(
        {f"Deployment/{service}", f"Job/{service}-migrate", cluster}, {cnpg_operator}
    )
    assert admitted(prod, cluster, CNPG_STATUS) == Admitted({cluster}, {cnpg_operator})
    assert admitted(prod, cluster, CNPG_METRICS) == Admitted(), "no PodMonitor scrapes it"
    # the label of the operator's pods in CloudNativePG's release manifest and Helm chart (its
    # namespace, cnpg-system by default, is the platform's: CNPG_OPERATOR_NAMESPACE)
    assert json.loads(cnpg_operator)["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}
    }


def test_the_reconciler_metrics_admit_only_prometheus(
    prod: list[dict[str, Any]], prometheus: str
) -> None:
    ports = pods_of(prod)[RECONCILE].ports
    assert admitted(prod, RECONCILE, ports["metrics"]) == Admitted(set(), {prometheus})


def test_prometheus_may_scrape_what_the_podmonitor_scrapes_and_the_kafka_exporter(
    prod: list[dict[str, Any]], prometheus: str
) -> None:
    (monitor,) = of_kind(prod, "PodMonitor")
    endpoints = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
    scraped = 0
    for name, pod in pods_of(prod).items():
        if not selects(monitor["spec"]["selector"], pod.labels):
            continue
        for port_name in endpoints & set(pod.ports):
            assert prometheus in admitted(prod, name, pod.ports[port_name]).outside, name
            scraped += 1
    assert scraped == len(SERVICES) + 1, "the four services and the reconciler"
    # the consumer-lag alert reads Strimzi's Kafka Exporter (when Kafka shares the namespace)
    exporter = pods_of(prod)[KAFKA_EXPORTER]
    assert admitted(prod, KAFKA_EXPORTER, exporter.ports["tcp-prometheus"]) == Admitted(
        set(), {prometheus}
    )
    # the Prometheus Operator's labels on the pods of a `Prometheus` named e.g. k8s
    operated = {
        "app.kubernetes.io/name": "prometheus",
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "app.kubernetes.io/instance": "k8s",
        "prometheus": "k8s",
        "operator.prometheus.io/name": "k8s",
    }
    assert selects(json.loads(prometheus)["podSelector"], operated)


def test_network_policies_select_pods_that_exist(prod: list[dict[str, Any]]) -> None:
    pods = pods_of(prod)
    for policy in of_kind(prod, "NetworkPolicy"):
        name, spec = policy["metadata"]["name"], policy["spec"]
        assert any(selects(spec["podSelector"], p.labels) for p in pods.values()), name
        for rule in spec.get("ingress", []):
            for source in rule["from"]:
                if "namespaceSelector" not in source:
                    selector = source["podSelector"]
                    assert any(selects(selector, p.labels) for p in pods.values()), (name, source)
    # and every pod is covered: what no policy opens stays closed
    for name in pods:
        assert any(
            selects(p["spec"]["podSelector"], pods[name].labels)
            for p in of_kind(prod, "NetworkPolicy")
        ), name


def kafka_listener_snippet() -> dict[str, Any]:
    """The listener deploy/README.md asks of the platform's Kafka resource (Prerequisites)."""
    text = (ROOT / "deploy" / "README.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "networkPolicyPeers" in b]
    assert len(blocks) == 1, "deploy/README.md shows the Kafka listener with its peers once"
    return dict(yaml.safe_load(blocks[0]))


def test_the_kafka_listener_admits_only_the_suites_services_and_the_marketplace(
    check: Any, prod: list[dict[str, Any]], crd_schemas: Path, marketplace: str
) -> None:
    # Strimzi writes the brokers' NetworkPolicy itself: its listener admits networkPolicyPeers
    snippet = kafka_listener_snippet()
    kafka = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "Kafka",
        "metadata": {"name": "escrow-kafka"},
        "spec": {"kafka": snippet},
    }
    assert check.validate_custom([kafka], crd_schemas) == []
    (listener,) = snippet["listeners"]
    (settings,) = [
        c
        for c in of_kind(prod, "ConfigMap")
        if c["metadata"]["name"].startswith("escrow-suite-settings")
    ]
    assert settings["data"]["KAFKA_BOOTSTRAP_SERVERS"].endswith(f":{listener['port']}")
    (namespace,) = of_kind(prod, "Namespace")
    namespace_labels = {
        **namespace["metadata"].get("labels", {}),
        "kubernetes.io/metadata.name": namespace["metadata"]["name"],
    }
    pods = pods_of(prod)
    reached: set[str] = set()
    others = set()
    for source in listener["networkPolicyPeers"]:
        # with a namespaceSelector it holds wherever the Kafka cluster lives
        assert source.get("namespaceSelector"), source
        if selects(source["namespaceSelector"], namespace_labels):
            reached |= {n for n, p in pods.items() if selects(source["podSelector"], p.labels)}
        else:
            others.add(outside(source))
    # the services' pods connect to Kafka; the migrate Jobs, the reconciler and the databases
    # never do
    assert reached == {f"Deployment/{s}" for s in SERVICES}
    assert others == {marketplace}, "the marketplace's back end (the KafkaUser marketplace)"
