"""Offline validation of the deployment: what `deploy/validate.sh` (`make k8s-validate`) runs.

1. the generated files equal a fresh `deploy/generate.py`;
2. every overlay renders with `kubectl kustomize`;
3. core resources validate (strict) with kubernetes-validate against the Kubernetes versions below;
4. Strimzi, CloudNativePG and Prometheus Operator resources validate against deploy/schemas/;
5. the rendered PrometheusRule passes `promtool check rules` and deploy/monitoring/tests/*.yaml
   pass `promtool test rules`.

    python deploy/check.py [--deploy-dir DIR] [--kubectl PATH] [--promtool PATH]

Prints every problem found and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
#: the oldest Kubernetes the manifests support (native preStop sleep) and the newest
#: kubernetes-validate knows
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
CRD_GROUPS = ("kafka.strimzi.io", "postgresql.cnpg.io", "monitoring.coreos.com")
RULES_FILE = "escrow-suite-rules.yaml"


def overlays(deploy_dir: Path) -> list[Path]:
    return sorted(p.parent for p in (deploy_dir / "overlays").glob("*/kustomization.yaml"))


def render(overlay: Path, kubectl: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RenderError(f"{overlay}: kubectl kustomize failed: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


class RenderError(Exception):
    pass


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def is_custom(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).split("/")[0] in CRD_GROUPS


def validate_core(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    for doc in docs:
        if is_custom(doc):
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = "/".join(str(p) for p in e.path)
                errors.append(f"{name_of(doc)} (Kubernetes {version}): {where}: {e.message}")
            except Exception as e:  # unknown kind or apiVersion
                errors.append(f"{name_of(doc)} (Kubernetes {version}): {e}")
    return errors


def schema_for(doc: dict[str, Any], schemas: Path) -> Path:
    return schemas / str(doc.get("apiVersion")) / f"{doc.get('kind')}.json"


def validate_custom(docs: list[dict[str, Any]], schemas: Path) -> list[str]:
    errors = []
    for doc in docs:
        if not is_custom(doc):
            continue
        path = schema_for(doc, schemas)
        if not path.exists():
            errors.append(f"{name_of(doc)}: no schema for {doc.get('apiVersion')} in {schemas}")
            continue
        validator = jsonschema.Draft7Validator(json.loads(path.read_text()))
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
            where = "/".join(str(p) for p in e.path)
            errors.append(f"{name_of(doc)} ({doc['apiVersion']}): {where}: {e.message}")
    return errors


def rules_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    groups = [
        g
        for d in docs
        if d.get("kind") == "PrometheusRule"
        for g in d.get("spec", {}).get("groups", [])
    ]
    return {"groups": groups}


def check_rules(docs: list[dict[str, Any]], deploy_dir: Path, promtool: str) -> list[str]:
    """promtool check rules on the rendered rules, then promtool test rules beside them."""
    errors = []
    with tempfile.TemporaryDirectory(prefix="escrow-suite-rules-") as tmp:
        work = Path(tmp)
        (work / RULES_FILE).write_text(yaml.safe_dump(rules_of(docs), sort_keys=False))
        runs = [[promtool, "check", "rules", RULES_FILE]]
        for test in sorted((deploy_dir / "monitoring" / "tests").glob("*.yaml")):
            shutil.copy(test, work / test.name)
            runs.append([promtool, "test", "rules", test.name])
        for cmd in runs:
            done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                errors.append(f"{' '.join(cmd[1:])}:\n{done.stdout}{done.stderr}".rstrip())
    return errors


def load_generate() -> Any:
    """deploy/generate.py as a module (deploy/ is not a package)."""
    name = "escrow_suite_deploy_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DEPLOY / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def check_generated(deploy_dir: Path) -> list[str]:
    generate = load_generate()
    errors = []
    for rel, text in generate.render().items():
        path = deploy_dir / rel
        if not path.exists() or path.read_text() != text:
            errors.append(f"deploy/{rel} differs from a fresh generation: run deploy/generate.py")
    return errors


def run(deploy_dir: Path, kubectl: str, promtool: str | None) -> list[str]:
    errors = check_generated(deploy_dir)
    found = overlays(deploy_dir)
    if not found:
        errors.append(f"no overlays under {deploy_dir / 'overlays'}")
    for overlay in found:
        try:
            docs = render(overlay, kubectl)
        except RenderError as e:
            errors.append(str(e))
            continue
        label = f"overlay {overlay.name}"
        errors += [f"{label}: {e}" for e in validate_core(docs)]
        errors += [f"{label}: {e}" for e in validate_custom(docs, deploy_dir / "schemas")]
        if promtool:
            errors += [f"{label}: {e}" for e in check_rules(docs, deploy_dir, promtool)]
        print(f"{label}: {len(docs)} resources checked", flush=True)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploy-dir", type=Path, default=DEPLOY)
    parser.add_argument("--kubectl", default=shutil.which("kubectl") or "kubectl")
    parser.add_argument("--promtool", default=shutil.which("promtool"))
    args = parser.parse_args(argv)
    if not args.promtool:
        print("promtool not found: install Debian's `prometheus` package", file=sys.stderr)
        return 2
    errors = run(args.deploy_dir.resolve(), args.kubectl, args.promtool)
    for error in errors:
        print(f"FAIL {error}", file=sys.stderr)
    print(f"{len(errors)} problem(s)" if errors else "deployment manifests are valid")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
