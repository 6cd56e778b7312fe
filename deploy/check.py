"""Offline validation of the deployment: what `deploy/validate.sh` (`make k8s-validate`) runs.

1. the generated files equal a fresh `deploy/generate.py`;
2. every overlay (and every component under deploy/components/, rendered into the prod overlay)
   renders with `kubectl kustomize`;
3. core resources validate (strict) with kubernetes-validate against the Kubernetes versions below;
4. custom resources (Strimzi, CloudNativePG and its Barman Cloud plugin, Prometheus Operator,
   Gateway API, External Secrets, …) validate against their projects' own CRD schemas, read from
   CRD_SCHEMA_DIR (default `<project>/../shared/crd-schemas`, `<group>/<kind>_<version>.json`),
   made strict first (see `strict()`), with a minimal check of `metadata`;
5. the rendered PrometheusRule passes `promtool check rules` and deploy/monitoring/tests/*.yaml
   pass `promtool test rules`.

    python deploy/check.py [--deploy-dir DIR] [--crd-schema-dir DIR] [--kubectl PATH]
                           [--promtool PATH]

Prints every problem found and exits 1 if there is any (2 if a tool or the schemas are missing).
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import yaml

# kubernetes-validate parses its schema files (the definitions are megabytes) again for every
# resource; read each once per process (it never changes them): most of the validation's time
kubernetes_validate.utils.schema_contents = functools.cache(  # type: ignore[assignment]
    kubernetes_validate.utils.schema_contents
)

DEPLOY = Path(__file__).resolve().parent
#: the oldest Kubernetes the manifests support (native preStop sleep) and the newest
#: kubernetes-validate knows
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
#: where the upstream CRD schemas are unless CRD_SCHEMA_DIR or --crd-schema-dir says
DEFAULT_CRD_SCHEMA_DIR = DEPLOY.parent.parent / "shared" / "crd-schemas"
#: components rendered into this overlay to be validated with it
COMPONENTS_OVERLAY = "prod"
RULES_FILE = "escrow-suite-rules.yaml"


def overlays(deploy_dir: Path) -> list[Path]:
    # not the copies render() makes while it adds components (.<overlay>-with-…)
    found = (deploy_dir / "overlays").glob("*/kustomization.yaml")
    return sorted(p.parent for p in found if not p.parent.name.startswith("."))


def components(deploy_dir: Path) -> list[Path]:
    return sorted(p.parent for p in (deploy_dir / "components").glob("*/kustomization.yaml"))


def render(
    overlay: Path, kubectl: str, with_components: Sequence[Path] = ()
) -> list[dict[str, Any]]:
    """`kubectl kustomize` of an overlay, optionally as if its kustomization listed components
    too (rendered from a copy of the overlay beside it, so its namespace and patches apply to
    them exactly as when the overlay includes them)."""
    if not with_components:
        return _kustomize(str(overlay), kubectl, str(overlay))
    with tempfile.TemporaryDirectory(prefix=f".{overlay.name}-with-", dir=overlay.parent) as tmp:
        copy = Path(tmp)
        shutil.copytree(overlay, copy, dirs_exist_ok=True)
        kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())
        kustomization["components"] = [
            *kustomization.get("components", []),
            *(os.path.relpath(c, copy) for c in with_components),
        ]
        (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
        names = ", ".join(c.name for c in with_components)
        return _kustomize(tmp, kubectl, f"{overlay} with component(s) {names}")


def _kustomize(path: str, kubectl: str, label: str) -> list[dict[str, Any]]:
    done = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RenderError(f"{label}: kubectl kustomize failed: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


class RenderError(Exception):
    pass


class SchemaDirError(Exception):
    pass


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def crd_schema_dir(given: Path | str | None = None) -> Path:
    """The CRD schema folder: `given`, else CRD_SCHEMA_DIR, else the default; it must exist
    (the validation never passes by skipping the custom resources)."""
    path = Path(given or os.environ.get("CRD_SCHEMA_DIR") or DEFAULT_CRD_SCHEMA_DIR).resolve()
    if not path.is_dir():
        raise SchemaDirError(
            f"no CRD schema folder at {path}: set CRD_SCHEMA_DIR (or --crd-schema-dir) to the "
            "folder of <group>/<kind>_<version>.json files (../shared/crd-schemas)"
        )
    if not any(path.glob("*/*.json")):
        raise SchemaDirError(f"{path} holds no <group>/<kind>_<version>.json schema")
    return path


def group_of(doc: dict[str, Any]) -> str:
    api = str(doc.get("apiVersion", ""))
    return api.split("/", maxsplit=1)[0] if "/" in api else ""


def is_custom(doc: dict[str, Any], schemas: Path) -> bool:
    """A custom resource: its API group has a folder of CRD schemas. Anything else goes to
    kubernetes-validate, which refuses a kind it does not know."""
    group = group_of(doc)
    return bool(group) and (schemas / group).is_dir()


def validate_core(docs: list[dict[str, Any]], schemas: Path) -> list[str]:
    errors = []
    for doc in docs:
        if is_custom(doc, schemas):
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = "/".join(str(p) for p in e.path)
                errors.append(f"{name_of(doc)} (Kubernetes {version}): {where}: {e.message}")
            except Exception as e:  # unknown kind or apiVersion (and no CRD schema group)
                errors.append(
                    f"{name_of(doc)} (Kubernetes {version}): unknown kind or apiVersion "
                    f"{doc.get('apiVersion')}: neither Kubernetes nor {schemas} has a schema "
                    f"({type(e).__name__}{': ' + str(e) if str(e) else ''})"
                )
    return errors


def schema_for(doc: dict[str, Any], schemas: Path) -> Path:
    version = str(doc.get("apiVersion", "")).partition("/")[2]
    return schemas / group_of(doc) / f"{str(doc.get('kind', '')).lower()}_{version}.json"


#: label keys: an optional DNS-subdomain prefix and a name; values: 63 characters at most
_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]"
_LABEL_KEY = rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_LABEL_NAME}$"
#: what a manifest's metadata may hold (the rest is set by the API server); the CRD schemas
#: leave `metadata` an open object
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        # a DNS-1123 subdomain (what every kind here accepts as a name)
        "name": {
            "type": "string",
            "maxLength": 253,
            "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        },
        "namespace": {
            "type": "string",
            "maxLength": 63,
            "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        },
        "labels": {
            "type": "object",
            "propertyNames": {"pattern": _LABEL_KEY, "maxLength": 316},
            "additionalProperties": {
                "type": "string",
                "maxLength": 63,
                "pattern": rf"^({_LABEL_NAME})?$",
            },
        },
        "annotations": {
            "type": "object",
            "propertyNames": {"pattern": _LABEL_KEY, "maxLength": 316},
            "additionalProperties": {"type": "string"},
        },
    },
}
#: branches of these only constrain an object whose fields are declared beside them (a
#: structural schema's rule): closing them would refuse those fields
_CONSTRAINT_KEYWORDS = ("oneOf", "anyOf", "allOf", "not")


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a CRD schema that refuses unknown fields, as the API server prunes them.

    The published schemas mostly leave objects open: every object schema that lists
    `properties` and says nothing of `additionalProperties` gets `additionalProperties: false`,
    unless it keeps unknown fields (`x-kubernetes-preserve-unknown-fields`, e.g. KafkaTopic's
    `config`) or is a branch of oneOf/anyOf/allOf/not. `metadata` gets METADATA_SCHEMA, and
    `apiVersion` and `kind` must be the ones the file is for.
    """
    closed = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                close(item)
            return
        if not isinstance(node, dict):
            return
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for key, value in node.items():
            if key in _CONSTRAINT_KEYWORDS:
                continue
            if key in ("properties", "patternProperties", "definitions"):
                for child in value.values():
                    close(child)
            elif key in ("items", "additionalProperties"):
                close(value)

    close(closed)
    closed.setdefault("properties", {})["metadata"] = METADATA_SCHEMA
    closed["required"] = sorted({*closed.get("required", []), "apiVersion", "kind", "metadata"})
    return closed


@functools.cache
def validator_for(path: Path) -> Any:
    """The strict validator of `<group>/<kind>_<version>.json`, built once per file."""
    schema = strict(json.loads(path.read_text()))
    kind, _, version = path.stem.rpartition("_")
    schema["properties"]["apiVersion"] = {"const": f"{path.parent.name}/{version}"}
    # the file names the kind in lower case; a kind is written in PascalCase
    schema["properties"]["kind"] = {
        "type": "string",
        "allOf": [{"pattern": f"(?i)^{kind}$"}, {"pattern": "^[A-Z]"}],
    }
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(schema)


def validate_custom(docs: list[dict[str, Any]], schemas: Path) -> list[str]:
    errors = []
    for doc in docs:
        if not is_custom(doc, schemas):
            continue
        path = schema_for(doc, schemas)
        if not path.exists():
            errors.append(
                f"{name_of(doc)}: unknown kind or apiVersion {doc.get('apiVersion')}: "
                f"no schema {path.relative_to(schemas)} in {schemas}"
            )
            continue
        for e in sorted(validator_for(path).iter_errors(doc), key=lambda e: list(e.path)):
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


def run(
    deploy_dir: Path, kubectl: str, promtool: str | None, schemas: Path | None = None
) -> list[str]:
    try:
        schemas = crd_schema_dir(schemas)
    except SchemaDirError as e:
        return [str(e)]
    errors = check_generated(deploy_dir)
    found = overlays(deploy_dir)
    if not found:
        errors.append(f"no overlays under {deploy_dir / 'overlays'}")
    targets = [(o, f"overlay {o.name}", []) for o in found]
    extra = components(deploy_dir)
    if extra:
        (base,) = [o for o in found if o.name == COMPONENTS_OVERLAY] or [None]
        if base is None:
            errors.append(f"components need the overlay {COMPONENTS_OVERLAY} to render into")
        else:
            names = "+".join(c.name for c in extra)
            targets.append((base, f"overlay {base.name}+{names}", extra))
    plain: dict[Path, list[dict[str, Any]]] = {}
    for overlay, label, with_components in targets:
        try:
            docs = render(overlay, kubectl, with_components)
        except RenderError as e:
            errors.append(str(e))
            continue
        if with_components:
            # what the components add or change; the rest was validated with the overlay
            docs = [d for d in docs if d not in plain.get(overlay, [])]
        else:
            plain[overlay] = docs
        errors += [f"{label}: {e}" for e in validate_core(docs, schemas)]
        errors += [f"{label}: {e}" for e in validate_custom(docs, schemas)]
        if promtool and not with_components:
            errors += [f"{label}: {e}" for e in check_rules(docs, deploy_dir, promtool)]
        print(f"{label}: {len(docs)} resources checked", flush=True)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploy-dir", type=Path, default=DEPLOY)
    parser.add_argument(
        "--crd-schema-dir",
        type=Path,
        default=None,
        help=f"CRD schemas (default: $CRD_SCHEMA_DIR, else {DEFAULT_CRD_SCHEMA_DIR})",
    )
    parser.add_argument("--kubectl", default=shutil.which("kubectl") or "kubectl")
    parser.add_argument("--promtool", default=shutil.which("promtool"))
    args = parser.parse_args(argv)
    if not args.promtool:
        print("promtool not found: install Debian's `prometheus` package", file=sys.stderr)
        return 2
    try:
        schemas = crd_schema_dir(args.crd_schema_dir)
    except SchemaDirError as e:
        print(f"k8s-validate: {e}", file=sys.stderr)
        return 2
    errors = run(args.deploy_dir.resolve(), args.kubectl, args.promtool, schemas)
    for error in errors:
        print(f"FAIL {error}", file=sys.stderr)
    print(f"{len(errors)} problem(s)" if errors else "deployment manifests are valid")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
