"""`deploy/validate.sh` (make k8s-validate) passes on the repository and fails on broken
manifests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "validate.sh"


def copy_deploy(tmp_path: Path) -> Path:
    target = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def run_script(
    deploy_dir: Path | None = None, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    args = ["bash", str(SCRIPT)] + ([str(deploy_dir)] if deploy_dir else [])
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "PYTHON": sys.executable,
        **(
            {"CRD_SCHEMA_DIR": os.environ["CRD_SCHEMA_DIR"]}
            if "CRD_SCHEMA_DIR" in os.environ
            else {}
        ),
        **extra_env,
    }
    return subprocess.run(args, capture_output=True, text=True, env=env, check=False, timeout=600)


def break_file(deploy_dir: Path, rel: str, old: str, new: str) -> None:
    path = deploy_dir / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def test_validate_sh_passes(promtool: str) -> None:
    done = run_script()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deployment manifests are valid" in done.stdout


def test_validate_sh_fails_on_a_broken_manifest(tmp_path: Path, promtool: str) -> None:
    deploy_dir = copy_deploy(tmp_path)
    break_file(deploy_dir, "base/monitoring/podmonitor.yaml", "path: /metrics", "pth: /metrics")
    done = run_script(deploy_dir)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PodMonitor/escrow-suite" in done.stderr


BROKEN = {
    "core resource (kubernetes-validate)": (
        "base/reconcile/deployment.yaml",
        "terminationGracePeriodSeconds: 10",
        "terminationGracePeriodSeconds: ten",
        "Deployment/escrow-suite-reconcile",
    ),
    "unknown field in a core resource (strict)": (
        "base/escrow/service.yaml",
        "  type: ClusterIP",
        "  type: ClusterIP\n  exposeMetrics: true",
        "Service/escrow",
    ),
    "Strimzi resource (schema)": (
        "base/kafka/topics.yaml",
        "partitions: 6",
        "partitions: 0",
        "KafkaTopic/",
    ),
    "CloudNativePG resource (schema)": (
        "base/payments/database.yaml",
        "instances: 3",
        "instance: 3",
        "Cluster/payments-db",
    ),
    # the upstream schemas leave objects open: check.strict() closes them
    "unknown field in a custom resource (strict)": (
        "base/payments/database.yaml",
        "  enableSuperuserAccess: false",
        "  enableSuperuserAccess: false\n  bogus: true",
        "Cluster/payments-db (postgresql.cnpg.io/v1): spec: Additional properties are not allowed",
    ),
    "unknown field deep in a custom resource (strict)": (
        "base/payments/backup.yaml",
        "    wal:\n",
        "    wal:\n      compresion: gzip\n",
        "ObjectStore/payments-db-backups (barmancloud.cnpg.io/v1): spec/configuration/wal:",
    ),
    "unknown apiVersion of a known group": (
        "base/payments/database.yaml",
        "apiVersion: postgresql.cnpg.io/v1",
        "apiVersion: postgresql.cnpg.io/v2",
        "Cluster/payments-db: unknown kind or apiVersion postgresql.cnpg.io/v2",
    ),
    "unknown kind of a known group": (
        "base/payments/backup.yaml",
        "kind: ScheduledBackup",
        "kind: ScheduledBackups",
        "ScheduledBackups/payments-db-daily: unknown kind or apiVersion",
    ),
    "unknown group": (
        "base/payments/database.yaml",
        "apiVersion: postgresql.cnpg.io/v1",
        "apiVersion: postgresql.example.com/v1",
        "Cluster/payments-db (Kubernetes 1.30.0): unknown kind or apiVersion",
    ),
    "metadata of a custom resource": (
        "base/payments/database.yaml",
        "  name: payments-db\n",
        "  name: payments-db\n  nmespace: x\n",
        "Cluster/payments-db (postgresql.cnpg.io/v1): metadata: Additional properties",
    ),
    "Gateway API route (schema)": (
        "overlays/prod/httproute.yaml",
        "type: Exact, value: /callbacks/zarinpal",
        "type: Exactly, value: /callbacks/zarinpal",
        "HTTPRoute/payments-callbacks",
    ),
    "External Secrets component (schema)": (
        "components/external-secrets/externalsecrets.yaml",
        "creationPolicy: Owner",
        "creationPolicy: Mine",
        "overlay prod+external-secrets: ExternalSecret/",
    ),
    "alert expression (promtool)": (
        "base/monitoring/prometheusrule.yaml",
        "(escrow_suite_outbox_oldest_age_seconds) > 300",
        "(escrow_suite_outbox_oldest_age_seconds) >> 300",
        "check rules",
    ),
    "kustomization (render)": (
        "overlays/prod/kustomization.yaml",
        "  - ../../base",
        "  - ../../base\n  - missing.yaml",
        "kubectl kustomize failed",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_validation_catches(
    case: str, tmp_path: Path, check: Any, kubectl: str, promtool: str
) -> None:
    rel, old, new, expected = BROKEN[case]
    deploy_dir = copy_deploy(tmp_path)
    break_file(deploy_dir, rel, old, new)
    errors = check.run(deploy_dir, kubectl, promtool)
    assert any(expected in e for e in errors), errors


def test_a_missing_crd_schema_folder_is_an_error_never_a_skip(
    tmp_path: Path, check: Any, kubectl: str, promtool: str
) -> None:
    missing = tmp_path / "no-schemas"
    errors = check.run(check.DEPLOY, kubectl, promtool, missing)
    assert errors and "no CRD schema folder" in errors[0] and "CRD_SCHEMA_DIR" in errors[0]
    done = run_script(CRD_SCHEMA_DIR=str(missing))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "CRD_SCHEMA_DIR" in done.stderr


def test_strict_closes_open_objects_but_not_constraint_branches_or_preserved_fields(
    check: Any,
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "env": {
                        "type": "object",
                        "properties": {"name": {}, "value": {}, "valueFrom": {}},
                        "oneOf": [{"properties": {"value": {}}, "required": ["value"]}],
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    }
    closed = check.strict(schema)
    spec = closed["properties"]["spec"]
    assert closed["additionalProperties"] is False and spec["additionalProperties"] is False
    assert "additionalProperties" not in spec["properties"]["config"]
    assert spec["properties"]["env"]["additionalProperties"] is False
    assert "additionalProperties" not in spec["properties"]["env"]["oneOf"][0]
    assert spec["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert closed["properties"]["metadata"] == check.METADATA_SCHEMA
    assert "additionalProperties" not in schema, "the schema read is not changed"
