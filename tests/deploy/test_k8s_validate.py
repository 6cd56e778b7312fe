"""`deploy/validate.sh` (make k8s-validate) passes on the repository and fails on broken
manifests."""

from __future__ import annotations

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


def run_script(deploy_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = ["bash", str(SCRIPT)] + ([str(deploy_dir)] if deploy_dir else [])
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "PYTHON": sys.executable,
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
