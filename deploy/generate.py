"""Generates the Kubernetes bases that follow from the wire contract and the service list.

Run it with the project's venv after changing a topic, a consumer or a service:

    .venv/bin/python deploy/generate.py            # rewrite the committed files
    .venv/bin/python deploy/generate.py --check    # exit 1 if they differ from a fresh generation

It writes, under deploy/base/:
- kafka/topics.yaml: a Strimzi KafkaTopic for every topic of the registry and its `.dlq` twin;
- kafka/users.yaml: a KafkaUser per service (and one for the marketplace) whose ACLs allow it to
  write only the topics it produces and read only the topics it consumes;
- <service>/: the Deployment, Service, PodDisruptionBudget, ServiceAccount, migration Job and
  CloudNativePG Cluster of each service, all cut from one template so the four stay alike, and
  the Cluster's backups (backup.yaml: a Barman Cloud plugin ObjectStore and a daily
  ScheduledBackup; the bucket and endpoint are set by the overlay);
- reconcile/: the Deployment `escrow-suite-reconcile` running `escrowctl reconcile` against the
  escrow and payments read APIs (their Services, never their databases), with its
  ServiceAccount and PodDisruptionBudget, cut from the same security context and labels;
- overlays/prod/payments-psp.yaml: the patch giving the payments pods and Job the PSPs'
  credentials (Secret `payments-psp`); overlays/dev/payments-sandbox.yaml: the patch running
  payments in development against the dev overlay's sandbox gateway (Secret `payments-sandbox`);
- overlays/prod/networkpolicies.yaml: the NetworkPolicies of production, ingress denied to every
  pod of the namespace and opened listener by listener to its peers (the placeholders of the
  peers outside the namespace are the constants of "NetworkPolicies" below);
- components/external-secrets/: an optional kustomize Component with an External Secrets
  `ExternalSecret` for every Secret the platform team provides (SECRETS below).

`--database-switch SERVICE CLUSTER` prints (writes nothing) the patch that points a service's
Deployment and migrate Job at another CloudNativePG Cluster, e.g. one recovered from a backup
(deploy/README.md, "Restore").

Who produces a topic is the context of the event model that declares it; who consumes what is
written down in CONSUMES below (DESIGN.md sections 3-5 and 7).
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from shared.contract import directory, disputes, escrow, payments
from shared.contract.asyncapi import consumers
from shared.contract.registry import (
    COMMAND_RESULTS,
    COMMAND_TOPICS,
    COMPACTED_TOPICS,
    all_topics,
    dlq,
    on_wire,
)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PART_OF = "escrow-suite"
IMAGE = "escrow-suite"
KAFKA_CLUSTER = "escrow-kafka"
STRIMZI_API = "kafka.strimzi.io/v1"
GRACEFUL_TIMEOUT_S = 20
#: above GRACEFUL_TIMEOUT_S plus the preStop pause, so the drain always finishes before SIGKILL
TERMINATION_GRACE_S = 45
PRESTOP_PAUSE_S = 5
RUN_AS = 10001

DAY_MS = 24 * 3600 * 1000
PARTITIONS = 6
DLQ_PARTITIONS = 3
REPLICAS = 3
MIN_INSYNC = 2
#: events and commands move money: keep a month to rebuild a consumer; dead letters longer
RETENTION_MS = 30 * DAY_MS
DLQ_RETENTION_MS = 90 * DAY_MS


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    context: str
    port: int
    #: keeps values sealed at rest (the settings' SEALS_AT_REST): reads SEALING_KEYS from the
    #: Secret `<service>-sealing`, key `keys`
    seals: bool = False
    #: sends mail and SMS: SMTP_USERNAME and SMTP_PASSWORD from the Secret `<service>-smtp`,
    #: SMS_API_KEY and SMS_SENDER from `<service>-sms` (optional: without it SMS is off),
    #: STARTTLS on (production refuses SMTP without it, or on the pod's own host); SMTP_HOST
    #: and SMTP_PORT are plain settings the overlay sets
    mails: bool = False
    #: the public listener (payments: the PSP callbacks alone), with its own Service
    #: `<service>-public` for the Ingress or HTTPRoute that the PSP reaches
    public_port: int | None = None
    #: reads the ConfigMap `<service>-settings` too, which each overlay generates with the
    #: settings that differ between deployments (payments: its PSP routes and PUBLIC_URL;
    #: notifications: its mail server)
    own_settings: bool = False


SERVICES = (
    ServiceSpec("escrow", escrow.CONTEXT, 8001),
    ServiceSpec(
        "payments", payments.CONTEXT, 8002, seals=True, public_port=8012, own_settings=True
    ),
    ServiceSpec("disputes", disputes.CONTEXT, 8003, seals=True),
    ServiceSpec("notifications", "notifications", 8004, seals=True, mails=True, own_settings=True),
)
EVENTS_BY_CONTEXT = {
    m.CONTEXT: [e.TOPIC for e in m.EVENTS] for m in (escrow, payments, disputes, directory)
}
PUBLIC_EVENT_TOPICS = sorted(
    {
        t
        for ctx in (escrow.CONTEXT, payments.CONTEXT, disputes.CONTEXT)
        for t in EVENTS_BY_CONTEXT[ctx]
    }
)

#: who consumes what: read from each service's registered handlers, the same source as the
#: AsyncAPI document, so a new handler cannot be left out of its ACLs
CONSUMES: dict[str, list[str]] = {
    name: sorted(t for t, readers in consumers().items() if name in readers)
    for name in ("escrow", "payments", "disputes", "notifications")
}


def produces(service: ServiceSpec) -> list[str]:
    """The topics a service writes: its context's events, its command results, its dead letters."""
    topics = set(EVENTS_BY_CONTEXT.get(service.context, []))
    if service.context in COMMAND_TOPICS.values():
        topics.add(COMMAND_RESULTS)
    topics.update(dlq(t) for t in CONSUMES[service.name])
    return sorted(topics)


# --- Kafka -------------------------------------------------------------------------------------


def kafka_labels(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "strimzi.io/cluster": KAFKA_CLUSTER,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "kustomize",
        **(extra or {}),
    }


def topic(name: str, prefix: str) -> dict[str, Any]:
    is_dlq = name.endswith(".dlq")
    config: dict[str, Any] = {"min.insync.replicas": MIN_INSYNC}
    if name in COMPACTED_TOPICS:
        config.update({"cleanup.policy": "compact", "min.compaction.lag.ms": 3600 * 1000})
    else:
        config.update(
            {
                "cleanup.policy": "delete",
                "retention.ms": DLQ_RETENTION_MS if is_dlq else RETENTION_MS,
            }
        )
    wire = on_wire(name, prefix)
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaTopic",
        "metadata": {
            "name": wire.replace("_", "-").lower(),
            "labels": kafka_labels({"app.kubernetes.io/component": "dlq" if is_dlq else "topic"}),
        },
        "spec": {
            "topicName": wire,
            "partitions": DLQ_PARTITIONS if is_dlq else PARTITIONS,
            "replicas": REPLICAS,
            "config": config,
        },
    }


def topics(prefix: str) -> list[dict[str, Any]]:
    names = sorted({n for t in all_topics() for n in (t, dlq(t))})
    return [topic(n, prefix) for n in names]


def acl(kind: str, name: str, operations: list[str], pattern: str = "literal") -> dict[str, Any]:
    return {
        "type": "allow",
        "resource": {"type": kind, "name": name, "patternType": pattern},
        "operations": operations,
    }


def user(
    name: str,
    component: str,
    reads: Iterable[str],
    writes: Iterable[str],
    prefix: str,
    group: dict[str, Any],
) -> dict[str, Any]:
    acls = [acl("topic", on_wire(t, prefix), ["Read", "Describe"]) for t in sorted(set(reads))]
    acls += [acl("topic", on_wire(t, prefix), ["Write", "Describe"]) for t in sorted(set(writes))]
    acls.append(group)
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaUser",
        "metadata": {
            "name": name,
            "labels": kafka_labels(
                {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component}
            ),
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def users(prefix: str) -> list[dict[str, Any]]:
    docs = [
        user(
            s.name,
            "kafka-user",
            CONSUMES[s.name],
            produces(s),
            prefix,
            acl("group", s.name, ["Read"]),
        )
        for s in SERVICES
    ]
    # The marketplace's back end sends the commands and the contact directory, and reads the
    # command results and the public events; its consumer groups start with "marketplace".
    docs.append(
        user(
            "marketplace",
            "kafka-user",
            [COMMAND_RESULTS, *PUBLIC_EVENT_TOPICS],
            [*COMMAND_TOPICS, directory.UserContactUpdated.TOPIC],
            prefix,
            acl("group", "marketplace", ["Read"], pattern="prefix"),
        )
    )
    return docs


# --- services ----------------------------------------------------------------------------------


def version_of(service: ServiceSpec) -> str:
    meta = tomllib.loads((ROOT / "services" / service.name / "pyproject.toml").read_text())
    return str(meta["project"]["version"])


def selector(s: ServiceSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": s.name, "app.kubernetes.io/instance": s.name}


def labels(s: ServiceSpec, component: str) -> dict[str, str]:
    return {
        **selector(s),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/version": version_of(s),
        "app.kubernetes.io/managed-by": "kustomize",
    }


def secret_env(name: str, secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key, **({"optional": True} if optional else {})}
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def env(s: ServiceSpec) -> list[dict[str, Any]]:
    db = f"{s.name}-db-app"
    return [
        {"name": "ENVIRONMENT", "value": "production"},
        {"name": "HTTP_HOST", "value": "0.0.0.0"},
        {"name": "HTTP_PORT", "value": str(s.port)},
        *(
            [
                {"name": "PUBLIC_HTTP_HOST", "value": "0.0.0.0"},
                {"name": "PUBLIC_HTTP_PORT", "value": str(s.public_port)},
            ]
            if s.public_port
            else []
        ),
        {"name": "GRACEFUL_TIMEOUT_S", "value": str(GRACEFUL_TIMEOUT_S)},
        # CloudNativePG's app secret holds a postgresql:// `uri`; the service speaks asyncpg, so
        # the URL is composed from the secret's parts (the generated password is alphanumeric).
        secret_env("DB_HOST", db, "host"),
        secret_env("DB_PORT", db, "port"),
        secret_env("DB_NAME", db, "dbname"),
        secret_env("DB_USER", db, "username"),
        secret_env("DB_PASSWORD", db, "password"),
        {
            "name": "DATABASE_URL",
            "value": "postgresql+asyncpg://$(DB_USER):$(DB_PASSWORD)@$(DB_HOST):$(DB_PORT)/"
            "$(DB_NAME)?ssl=require",
        },
        {"name": "KAFKA_SASL_USERNAME", "value": s.name},
        secret_env("KAFKA_SASL_PASSWORD", s.name, "password"),
        {"name": "KAFKA_GROUP_ID", "value": s.name},
        {"name": "KAFKA_SSL_CAFILE", "value": "/etc/escrow-suite/kafka-ca/ca.crt"},
        {
            "name": "ACTOR_TOKEN_PUBLIC_KEY_FILE",
            "value": "/etc/escrow-suite/actor-token/public.pem",
        },
        {"name": "TMPDIR", "value": "/tmp"},
        # signs what the service publishes, and every producer's public keys (shared.signing)
        secret_env("SIGNING_KEY", f"{s.name}-signing", "key"),
        secret_env("EVENT_KEYS", EVENT_KEYS_SECRET, "ring"),
        # the reconciliation job's tokens read the ledgers' totals (operator role only)
        secret_env("OPERATOR_TOKEN_PUBLIC_KEY", OPERATOR_TOKEN_SECRET, "public.pem"),
        *([secret_env("SEALING_KEYS", f"{s.name}-sealing", "keys")] if s.seals else []),
        *(smtp_env(s) if s.mails else []),
    ]


def smtp_env(s: ServiceSpec) -> list[dict[str, Any]]:
    smtp, sms = f"{s.name}-smtp", f"{s.name}-sms"
    return [
        secret_env("SMTP_USERNAME", smtp, "username"),
        secret_env("SMTP_PASSWORD", smtp, "password"),
        {"name": "SMTP_STARTTLS", "value": "true"},
        # SMS is a channel the suite can do without: no Secret, no SMS (the settings' default)
        secret_env("SMS_API_KEY", sms, "api-key", optional=True),
        secret_env("SMS_SENDER", sms, "sender", optional=True),
    ]


#: every producer's public event-signing keys (`EVENT_KEYS`), the same Secret for every service
EVENT_KEYS_SECRET = "escrow-suite-event-keys"
#: the operator key pair: `public.pem` for the services, `private.pem` for the reconciler
OPERATOR_TOKEN_SECRET = "escrow-suite-operator-token"


SETTINGS_CONFIGMAP = "escrow-suite-settings"


def env_from(s: ServiceSpec) -> list[dict[str, Any]]:
    own = [{"configMapRef": {"name": f"{s.name}-settings"}}] if s.own_settings else []
    return [{"configMapRef": {"name": SETTINGS_CONFIGMAP}}, *own]


VOLUMES = [
    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    {
        "name": "kafka-ca",
        "secret": {
            "secretName": f"{KAFKA_CLUSTER}-cluster-ca-cert",
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
        },
    },
    {
        "name": "actor-token",
        "secret": {
            "secretName": "escrow-suite-actor-token",
            "items": [{"key": "public.pem", "path": "public.pem"}],
        },
    },
]
MOUNTS = [
    {"name": "tmp", "mountPath": "/tmp"},
    {"name": "kafka-ca", "mountPath": "/etc/escrow-suite/kafka-ca", "readOnly": True},
    {"name": "actor-token", "mountPath": "/etc/escrow-suite/actor-token", "readOnly": True},
]
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS,
    "runAsGroup": RUN_AS,
    "fsGroup": RUN_AS,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
SMALL = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}


def container(s: ServiceSpec, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        **extra,
        "env": env(s),
        "envFrom": env_from(s),
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": MOUNTS,
    }


def pod_spec(s: ServiceSpec, **extra: Any) -> dict[str, Any]:
    return {
        "serviceAccountName": s.name,
        "automountServiceAccountToken": False,
        "securityContext": POD_SECURITY,
        **extra,
        "volumes": VOLUMES,
    }


def probe(path: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def deployment(s: ServiceSpec) -> dict[str, Any]:
    app = container(
        s,
        s.name,
        args=[s.name],
        ports=[
            {"name": "http", "containerPort": s.port, "protocol": "TCP"},
            *(
                [{"name": "public", "containerPort": s.public_port, "protocol": "TCP"}]
                if s.public_port
                else []
            ),
        ],
        startupProbe=probe("/health/live", 2, 2, 30),
        livenessProbe=probe("/health/live", 10, 2, 3),
        # ready pings the database and the broker (each bounded by 2 s)
        readinessProbe=probe("/health/ready", 5, 5, 3),
        lifecycle={"preStop": {"sleep": {"seconds": PRESTOP_PAUSE_S}}},
        resources={
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
    )
    wait = container(
        s,
        "wait-for-migrations",
        command=["python", "/app/bin/wait_for_migrations.py", s.name],
        resources=SMALL,
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": s.name, "labels": labels(s, "service")},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(s)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(s, "service")},
                "spec": pod_spec(
                    s,
                    terminationGracePeriodSeconds=TERMINATION_GRACE_S,
                    topologySpreadConstraints=[
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(s)},
                        }
                    ],
                    initContainers=[wait],
                    containers=[app],
                ),
            },
        },
    }


# --- reconciliation ----------------------------------------------------------------------------

RECONCILE = "escrow-suite-reconcile"
RECONCILE_APP = "reconcile"
#: `escrowctl reconcile` reads `GET /ledger/totals` of these services (<NAME>_URL), nothing else
RECONCILE_READS = ("escrow", "payments")
RECONCILE_EVERY_S = 300
RECONCILE_METRICS_PORT = 9108
#: nothing to drain: a reconciliation cut short is simply run again by the next pod
RECONCILE_TERMINATION_GRACE_S = 10


def reconcile_selector() -> dict[str, str]:
    return {"app.kubernetes.io/name": RECONCILE_APP, "app.kubernetes.io/instance": RECONCILE_APP}


def reconcile_labels() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())
    return {
        **reconcile_selector(),
        "app.kubernetes.io/component": "reconciliation",
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/version": str(meta["project"]["version"]),
        "app.kubernetes.io/managed-by": "kustomize",
    }


def service_url(name: str) -> str:
    """The in-cluster URL of a service's read API: its Service (see `service()`) and port."""
    (s,) = [s for s in SERVICES if s.name == name]
    return f"http://{s.name}:{s.port}"


def reconcile_deployment() -> dict[str, Any]:
    def metrics_probe(period: int, failures: int) -> dict[str, Any]:
        # prometheus_client's server answers on any path; /metrics is the one scraped
        return {
            "httpGet": {"path": "/metrics", "port": "metrics"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    app = {
        "name": RECONCILE_APP,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        # `command` replaces the image's entrypoint (tini, python -m): tini stays PID 1 so that
        # SIGTERM reaches escrowctl (a Python PID 1 without a handler would ignore it)
        "command": [
            "/usr/bin/tini",
            "--",
            "escrowctl",
            "reconcile",
            "--every",
            str(RECONCILE_EVERY_S),
            "--metrics-port",
            str(RECONCILE_METRICS_PORT),
        ],
        "ports": [{"name": "metrics", "containerPort": RECONCILE_METRICS_PORT, "protocol": "TCP"}],
        "livenessProbe": metrics_probe(10, 3),
        "readinessProbe": metrics_probe(5, 3),
        "resources": SMALL,
        # the read APIs only: no database secret, no Kafka credentials, no settings ConfigMap;
        # it reads as the operator, with tokens it signs with the operator key
        "env": [
            *({"name": f"{n.upper()}_URL", "value": service_url(n)} for n in RECONCILE_READS),
            {"name": "TMPDIR", "value": "/tmp"},
            {
                "name": "OPERATOR_TOKEN_PRIVATE_KEY_FILE",
                "value": "/etc/escrow-suite/operator-token/private.pem",
            },
        ],
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {
                "name": "operator-token",
                "mountPath": "/etc/escrow-suite/operator-token",
                "readOnly": True,
            },
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": RECONCILE, "labels": reconcile_labels()},
        "spec": {
            # one reconciler is enough: a second would only repeat the same reads
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": reconcile_selector()},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": reconcile_labels()},
                "spec": {
                    "serviceAccountName": RECONCILE,
                    "automountServiceAccountToken": False,
                    "securityContext": POD_SECURITY,
                    "terminationGracePeriodSeconds": RECONCILE_TERMINATION_GRACE_S,
                    "containers": [app],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        {
                            "name": "operator-token",
                            "secret": {
                                "secretName": OPERATOR_TOKEN_SECRET,
                                "items": [{"key": "private.pem", "path": "private.pem"}],
                            },
                        },
                    ],
                },
            },
        },
    }


def reconcile_pdb() -> dict[str, Any]:
    # maxUnavailable (not minAvailable): a single pod must never block a node drain
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": RECONCILE, "labels": reconcile_labels()},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": reconcile_selector()}},
    }


def reconcile_service_account() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": RECONCILE, "labels": reconcile_labels()},
        "automountServiceAccountToken": False,
    }


def migrate_job(s: ServiceSpec) -> dict[str, Any]:
    job = container(s, "migrate", args=[s.name, "migrate"], resources=SMALL)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{s.name}-migrate", "labels": labels(s, "migrations")},
        "spec": {
            "backoffLimit": 6,
            "activeDeadlineSeconds": 900,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels(s, "migrations")},
                "spec": pod_spec(s, restartPolicy="OnFailure", containers=[job]),
            },
        },
    }


def service(s: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": s.name, "labels": labels(s, "service")},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(s),
            "ports": [{"name": "http", "port": s.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def public_service(s: ServiceSpec) -> dict[str, Any]:
    """The public listener alone: what an Ingress or HTTPRoute for the PSP points at."""
    port = {"name": "public", "port": s.public_port, "targetPort": "public", "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{s.name}-public", "labels": labels(s, "service")},
        "spec": {"type": "ClusterIP", "selector": selector(s), "ports": [port]},
    }


def pdb(s: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": s.name, "labels": labels(s, "service")},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(s)}},
    }


def service_account(s: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": s.name, "labels": labels(s, "service")},
        "automountServiceAccountToken": False,
    }


def database(s: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": f"{s.name}-db", "labels": labels(s, "database")},
        "spec": {
            "instances": 3,
            "primaryUpdateStrategy": "unsupervised",
            "enableSuperuserAccess": False,
            "bootstrap": {"initdb": {"database": s.name, "owner": s.name}},
            "postgresql": {"parameters": {"max_connections": "100", "timezone": "UTC"}},
            "storage": {"size": "10Gi"},
            "resources": {
                "requests": {"cpu": "250m", "memory": "512Mi"},
                "limits": {"memory": "1Gi"},
            },
            "affinity": {
                "enablePodAntiAffinity": True,
                "topologyKey": "kubernetes.io/hostname",
            },
            "inheritedMetadata": {"labels": {"app.kubernetes.io/part-of": PART_OF}},
            # WAL archiving and base backups through the Barman Cloud plugin (backup.yaml)
            "plugins": [
                {
                    "name": BARMAN_PLUGIN,
                    "isWALArchiver": True,
                    "parameters": {"barmanObjectName": object_store_name(s)},
                }
            ],
        },
    }


# --- backups -----------------------------------------------------------------------------------

BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
#: where the base backups and WAL go: `<destination>/<cluster name>/` (barman's server name is
#: the Cluster's). Placeholders: the overlay sets the bucket and the S3-compatible endpoint
BACKUP_DESTINATION = "s3://set-by-the-overlay/escrow-suite"
BACKUP_ENDPOINT = "https://set-by-the-overlay.invalid"
#: the object store's access key (keys access-key-id, secret-access-key)
BACKUP_CREDENTIALS_SECRET = "escrow-suite-backup-s3"
#: base backups and the WAL needed to recover to any point in the last 30 days are kept
BACKUP_RETENTION = "30d"
#: CloudNativePG's schedule has six fields, seconds first: every day at 02:00 UTC
BACKUP_SCHEDULE = "0 0 2 * * *"


def object_store_name(s: ServiceSpec) -> str:
    return f"{s.name}-db-backups"


def object_store(s: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "barmancloud.cnpg.io/v1",
        "kind": "ObjectStore",
        "metadata": {"name": object_store_name(s), "labels": labels(s, "database")},
        "spec": {
            "retentionPolicy": BACKUP_RETENTION,
            "configuration": {
                "destinationPath": BACKUP_DESTINATION,
                "endpointURL": BACKUP_ENDPOINT,
                "s3Credentials": {
                    "accessKeyId": {"name": BACKUP_CREDENTIALS_SECRET, "key": "access-key-id"},
                    "secretAccessKey": {
                        "name": BACKUP_CREDENTIALS_SECRET,
                        "key": "secret-access-key",
                    },
                },
                "wal": {"compression": "gzip"},
                "data": {"compression": "gzip"},
            },
        },
    }


def scheduled_backup(s: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "ScheduledBackup",
        "metadata": {"name": f"{s.name}-db-daily", "labels": labels(s, "database")},
        "spec": {
            "cluster": {"name": f"{s.name}-db"},
            "schedule": BACKUP_SCHEDULE,
            # a first backup as soon as the Cluster exists: WAL alone cannot be recovered from
            "immediate": True,
            # each Backup belongs to this ScheduledBackup (deleted with it, not with the Cluster)
            "backupOwnerReference": "self",
            "method": "plugin",
            "pluginConfiguration": {"name": BARMAN_PLUGIN},
        },
    }


def database_switch(service: str, cluster: str) -> list[dict[str, Any]]:
    """Strategic-merge patches pointing a service's pods and migrate Job at the app Secret of
    another Cluster (`<cluster>-app`, which CloudNativePG writes with that Cluster's host)."""
    (s,) = [s for s in SERVICES if s.name == service]
    db_env = [e for e in env(s) if e["name"].startswith("DB_")]
    for e in db_env:
        e["valueFrom"]["secretKeyRef"]["name"] = f"{cluster}-app"

    def patch(kind: str, name: str, pod: dict[str, Any]) -> dict[str, Any]:
        api = "apps/v1" if kind == "Deployment" else "batch/v1"
        return {
            "apiVersion": api,
            "kind": kind,
            "metadata": {"name": name},
            "spec": {"template": {"spec": pod}},
        }

    return [
        patch(
            "Deployment",
            s.name,
            {
                "initContainers": [{"name": "wait-for-migrations", "env": db_env}],
                "containers": [{"name": s.name, "env": db_env}],
            },
        ),
        patch("Job", f"{s.name}-migrate", {"containers": [{"name": "migrate", "env": db_env}]}),
    ]


# --- the payments service's gateways, per overlay ------------------------------------------------

#: the PSPs' credentials in production: variable -> key of the Secret PSP_SECRET
PSP_SECRET = "payments-psp"
PSP_ENV = {
    "ZARINPAL_MERCHANT_ID": "zarinpal-merchant-id",
    "ZARINPAL_ACCESS_TOKEN": "zarinpal-access-token",
    "VANDAR_BUSINESS": "vandar-business",
    "VANDAR_ACCESS_TOKEN": "vandar-access-token",
    "STRIPE_API_KEY": "stripe-api-key",
    "STRIPE_WEBHOOK_SECRET": "stripe-webhook-secret",
}
#: the development overlay's sandbox gateway: its merchant secret (Secret, key `secret`)
SANDBOX_SECRET = "payments-sandbox"


def payments_patch(extra_env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Strategic-merge patches adding `extra_env` to the payments pods and its migrate Job
    (which builds the same settings, so it must get the same)."""
    (s,) = [s for s in SERVICES if s.name == "payments"]
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": s.name},
            "spec": {"template": {"spec": {"containers": [{"name": s.name, "env": extra_env}]}}},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": f"{s.name}-migrate"},
            "spec": {"template": {"spec": {"containers": [{"name": "migrate", "env": extra_env}]}}},
        },
    ]


def psp_env() -> list[dict[str, Any]]:
    return [secret_env(name, PSP_SECRET, key) for name, key in PSP_ENV.items()]


def sandbox_env() -> list[dict[str, Any]]:
    # the sandbox is refused in production: development settings for payments alone
    return [
        {"name": "ENVIRONMENT", "value": "development"},
        secret_env("SANDBOX_SECRET", SANDBOX_SECRET, "secret"),
    ]


# --- NetworkPolicies (the prod overlay) ----------------------------------------------------------

#: who outside the namespace may connect, each by its namespace's name label (Kubernetes sets
#: `kubernetes.io/metadata.name` on every namespace) and, where one is known, its pods' labels.
#: PLACEHOLDERS of the platform team: change them here and regenerate (deploy/README.md,
#: "NetworkPolicies"); every policy that admits the peer takes it from here.
#:
#: Prometheus: the pods the Prometheus Operator runs for a `Prometheus` (the one reading the
#: PodMonitor of base/monitoring), in the namespace of e.g. kube-prometheus-stack
MONITORING_NAMESPACE = "monitoring"
PROMETHEUS_PODS = {
    "app.kubernetes.io/name": "prometheus",
    "app.kubernetes.io/managed-by": "prometheus-operator",
}
#: the Gateway's data plane, the proxies carrying httproute.yaml's traffic to payments-public:
#: every pod of the Gateway's namespace (the parentRef's, gateway-system), since implementations
#: label their proxies differently and some run them elsewhere (Envoy Gateway:
#: envoy-gateway-system, `gateway.envoyproxy.io/owning-gateway-name`; Istio: the Gateway's
#: namespace, `gateway.networking.k8s.io/gateway-name`)
GATEWAY_NAMESPACE = "gateway-system"
GATEWAY_PODS: dict[str, str] = {}
#: the marketplace's back end: it reads the read APIs with its users' actor tokens (and is the
#: Kafka listener's other peer, see deploy/README.md)
MARKETPLACE_NAMESPACE = "marketplace"
MARKETPLACE_PODS: dict[str, str] = {}
#: the CloudNativePG operator (its release manifest and Helm chart label its pods so); it must
#: reach every instance on 5432 and on the instance manager's status port 8000
CNPG_OPERATOR_NAMESPACE = "cnpg-system"
CNPG_OPERATOR_PODS = {"app.kubernetes.io/name": "cloudnative-pg"}

POSTGRES_PORT = 5432
CNPG_STATUS_PORT = 8000
#: Strimzi's Kafka Exporter (`spec.kafkaExporter`), whose consumer lag the alerts read
KAFKA_EXPORTER_PORT = 9404
NETWORK_POLICY = "network-policy"


def namespace_peer(namespace: str, pods: dict[str, str]) -> dict[str, Any]:
    """The pods of another namespace (every one of them when `pods` is empty)."""
    peer: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    }
    if pods:
        peer["podSelector"] = {"matchLabels": pods}
    return peer


def prometheus_peer() -> dict[str, Any]:
    return namespace_peer(MONITORING_NAMESPACE, PROMETHEUS_PODS)


def pods_of(match: dict[str, str], components: Iterable[str] = ()) -> dict[str, Any]:
    """A peer in the policy's own namespace (a podSelector alone never leaves it)."""
    selected: dict[str, Any] = {"matchLabels": match}
    if components:
        selected["matchExpressions"] = [
            {"key": "app.kubernetes.io/component", "operator": "In", "values": list(components)}
        ]
    return {"podSelector": selected}


def admit(peers: list[dict[str, Any]], *ports: int) -> dict[str, Any]:
    return {"from": peers, "ports": [{"protocol": "TCP", "port": p} for p in ports]}


def network_policy(
    name: str,
    labels_: dict[str, str],
    pods: dict[str, Any],
    rules: list[dict[str, Any]],
) -> dict[str, Any]:
    # Ingress only: egress stays open (the PSPs, SMTP, SMS and webhook receivers are anywhere)
    spec: dict[str, Any] = {"podSelector": pods, "policyTypes": ["Ingress"]}
    if rules:
        spec["ingress"] = rules
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": labels_},
        "spec": spec,
    }


def suite_labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "kustomize",
    }


def service_pods(s: ServiceSpec) -> dict[str, Any]:
    """The Deployment's pods (not the migrate Job's, which share the selector's labels)."""
    return {"matchLabels": {**selector(s), "app.kubernetes.io/component": "service"}}


def network_policies() -> list[dict[str, Any]]:
    """Ingress of everything in the namespace is denied, then each listener is opened to the
    peers that need it, and to nothing else (deploy/README.md, "NetworkPolicies")."""
    docs = [network_policy("default-deny-ingress", suite_labels(NETWORK_POLICY), {}, [])]
    marketplace = namespace_peer(MARKETPLACE_NAMESPACE, MARKETPLACE_PODS)
    for s in SERVICES:
        readers = [pods_of(reconcile_selector())] if s.name in RECONCILE_READS else []
        # the read API (the marketplace, the reconciler), /metrics (Prometheus), health (the
        # kubelet, whose probes NetworkPolicies never block)
        docs.append(
            network_policy(
                f"{s.name}-http",
                labels(s, NETWORK_POLICY),
                service_pods(s),
                [admit([*readers, marketplace, prometheus_peer()], s.port)],
            )
        )
        if s.public_port:
            # the PSP callbacks alone, from the Gateway (never the internal port)
            gateway = namespace_peer(GATEWAY_NAMESPACE, GATEWAY_PODS)
            docs.append(
                network_policy(
                    f"{s.name}-public",
                    labels(s, NETWORK_POLICY),
                    service_pods(s),
                    [admit([gateway], s.public_port)],
                )
            )
    docs.append(
        network_policy(
            f"{RECONCILE}-metrics",
            {**reconcile_labels(), "app.kubernetes.io/component": NETWORK_POLICY},
            {"matchLabels": reconcile_selector()},
            [admit([prometheus_peer()], RECONCILE_METRICS_PORT)],
        )
    )
    for s in SERVICES:
        cluster = {"cnpg.io/cluster": f"{s.name}-db"}
        docs.append(
            network_policy(
                f"{s.name}-db",
                labels(s, NETWORK_POLICY),
                {"matchLabels": cluster},
                [
                    # its service's pods (and their wait-for-migrations) and its migrate Job
                    admit([pods_of(selector(s), ["service", "migrations"])], POSTGRES_PORT),
                    # its own instances and CloudNativePG's jobs (replication, joining, rewind)
                    admit([pods_of(cluster)], POSTGRES_PORT, CNPG_STATUS_PORT),
                    admit(
                        [namespace_peer(CNPG_OPERATOR_NAMESPACE, CNPG_OPERATOR_PODS)],
                        POSTGRES_PORT,
                        CNPG_STATUS_PORT,
                    ),
                ],
            )
        )
    # Strimzi writes the brokers' policies itself (their listener admits the Kafka resource's
    # networkPolicyPeers); a Kafka Exporter in this namespace still needs Prometheus let in
    docs.append(
        network_policy(
            f"{KAFKA_CLUSTER}-kafka-exporter-metrics",
            kafka_labels({"app.kubernetes.io/component": NETWORK_POLICY}),
            {
                "matchLabels": {
                    "strimzi.io/cluster": KAFKA_CLUSTER,
                    "strimzi.io/name": f"{KAFKA_CLUSTER}-kafka-exporter",
                }
            },
            [admit([prometheus_peer()], KAFKA_EXPORTER_PORT)],
        )
    )
    return docs


NETWORK_POLICIES_NOTE = (
    "# Ingress of every pod of the namespace is denied, then opened listener by listener to its\n"
    '# peers (deploy/README.md, "NetworkPolicies"). PLACEHOLDERS: the namespaces of Prometheus\n'
    "# (monitoring), the Gateway's data plane (gateway-system), the marketplace (marketplace)\n"
    "# and the CloudNativePG operator (cnpg-system): set them in deploy/generate.py.\n"
)


# --- Secrets the platform team provides ----------------------------------------------------------

#: every Secret the suite reads that no operator writes (not `<service>-db-app`: CloudNativePG;
#: not the KafkaUsers' or the cluster CA: Strimzi), with its keys. The optional External Secrets
#: component makes one ExternalSecret of each; `payments-psp` is read by the prod overlay only.
SECRETS: dict[str, tuple[str, ...]] = {
    "escrow-suite-actor-token": ("public.pem",),
    "escrow-suite-operator-token": ("public.pem", "private.pem"),
    "escrow-suite-event-keys": ("ring",),
    **{f"{s.name}-signing": ("key",) for s in SERVICES},
    **{f"{s.name}-sealing": ("keys",) for s in SERVICES if s.seals},
    "notifications-smtp": ("username", "password"),
    "notifications-sms": ("api-key", "sender"),
    PSP_SECRET: tuple(PSP_ENV.values()),
    BACKUP_CREDENTIALS_SECRET: ("access-key-id", "secret-access-key"),
}
#: the store the ExternalSecrets read from: a placeholder the platform team renames with a patch
SECRET_STORE = {"name": "escrow-suite-secrets", "kind": "ClusterSecretStore"}


def external_secret(name: str, keys: tuple[str, ...]) -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/part-of": PART_OF,
                "app.kubernetes.io/managed-by": "kustomize",
            },
        },
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": SECRET_STORE,
            "target": {"name": name, "creationPolicy": "Owner"},
            # one entry per key: the remote secret `escrow-suite/<name>`, its property `<key>`
            "data": [
                {"secretKey": key, "remoteRef": {"key": f"{PART_OF}/{name}", "property": key}}
                for key in keys
            ],
        },
    }


def component(resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": resources,
    }


def kustomization(resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


# --- output ------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Writes shared pieces (security context, mounts) out in full instead of as YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


HEADER = "# Generated by deploy/generate.py from the wire contract; do not edit by hand.\n"


def dump(docs: list[dict[str, Any]], note: str = "") -> str:
    body = "---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=False, width=100) for d in docs)
    return HEADER + note + body


def render(prefix: str = "") -> dict[str, str]:
    """Every generated file, relative to deploy/, and its text."""
    files = {
        "base/kafka/topics.yaml": dump(topics(prefix)),
        "base/kafka/users.yaml": dump(users(prefix)),
        "base/kafka/kustomization.yaml": dump([kustomization(["topics.yaml", "users.yaml"])]),
    }
    parts: dict[str, Callable[[ServiceSpec], Any]] = {
        "serviceaccount.yaml": service_account,
        "database.yaml": database,
        "backup.yaml": lambda s: [object_store(s), scheduled_backup(s)],
        "migrate-job.yaml": migrate_job,
        "deployment.yaml": deployment,
        "service.yaml": service,
        "pdb.yaml": pdb,
    }
    for s in SERVICES:
        for filename, make in parts.items():
            made = make(s)
            files[f"base/{s.name}/{filename}"] = dump(made if isinstance(made, list) else [made])
        if s.public_port:
            files[f"base/{s.name}/service.yaml"] = dump([service(s), public_service(s)])
        files[f"base/{s.name}/kustomization.yaml"] = dump([kustomization(list(parts))])
    reconcile_parts = {
        "serviceaccount.yaml": reconcile_service_account,
        "deployment.yaml": reconcile_deployment,
        "pdb.yaml": reconcile_pdb,
    }
    for filename, make_reconcile in reconcile_parts.items():
        files[f"base/reconcile/{filename}"] = dump([make_reconcile()])
    files["base/reconcile/kustomization.yaml"] = dump([kustomization(list(reconcile_parts))])
    files["overlays/prod/payments-psp.yaml"] = dump(payments_patch(psp_env()))
    files["overlays/dev/payments-sandbox.yaml"] = dump(payments_patch(sandbox_env()))
    files["overlays/prod/networkpolicies.yaml"] = dump(network_policies(), NETWORK_POLICIES_NOTE)
    files["components/external-secrets/externalsecrets.yaml"] = dump(
        [external_secret(name, keys) for name, keys in SECRETS.items()]
    )
    files["components/external-secrets/kustomization.yaml"] = dump(
        [component(["externalsecrets.yaml"])]
    )
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--deploy-dir", type=Path, default=DEPLOY)
    parser.add_argument(
        "--prefix",
        default="",
        help="TOPIC_PREFIX of the deployment (write to another --deploy-dir)",
    )
    parser.add_argument(
        "--database-switch",
        nargs=2,
        metavar=("SERVICE", "CLUSTER"),
        help="print the patch pointing SERVICE at the Cluster CLUSTER (a restore); writes nothing",
    )
    args = parser.parse_args(argv)
    if args.database_switch:
        service, cluster = args.database_switch
        if service not in {s.name for s in SERVICES}:
            parser.error(f"no service {service}")
        print(
            f"# {service} reads the database of the Cluster {cluster} (deploy/generate.py "
            f"--database-switch {service} {cluster}); list it under the overlay's patches\n"
            + dump(database_switch(service, cluster)).removeprefix(HEADER),
            end="",
        )
        return 0
    stale = []
    for rel, text in render(args.prefix).items():
        path = args.deploy_dir / rel
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(rel)
            sys.stderr.writelines(
                difflib.unified_diff(
                    current.splitlines(True), text.splitlines(True), f"{rel} (committed)", rel
                )
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote deploy/{rel}")
    if stale:
        print(
            f"{len(stale)} generated file(s) are stale: run .venv/bin/python deploy/generate.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
