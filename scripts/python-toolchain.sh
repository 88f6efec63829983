#!/usr/bin/env bash
# Installs, idempotently, componentize-py (from PyPI) into a venv: what builds Python step
# components (the Python code step, and Python step projects with `flowbox step build`).
# Usage: scripts/python-toolchain.sh DIR      (the venv is DIR/venv)
#   PYTHON  the Python that creates the venv (default: python3, >= 3.10, with venv)
set -euo pipefail
COMPONENTIZE_PY_VERSION=0.25.1
toolchain=${1:?usage: python-toolchain.sh DIR}
venv=$toolchain/venv
python=${PYTHON:-python3}
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
  echo "python toolchain: installing componentize-py $COMPONENTIZE_PY_VERSION into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$toolchain"
  "$python" -m venv "$venv" >&2 || {
    echo "python toolchain: \`$python -m venv\` failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  "$venv/bin/pip" install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION" >&2
fi
