#!/usr/bin/env bash
# Builds the Python code step, target/wasm/python.wasm, from steps/python/ and wit/ with
# componentize-py (a CPython 3.14 interpreter pre-initialised with the step's runtime, the
# standard library it ships and the vendored libraries of steps/python/vendor.txt).
#
# Idempotent: installs componentize-py into a venv and downloads the vendored libraries (from
# PyPI, checked against their hashes) only when missing, and rebuilds only when an input changed
# (a hash of the inputs is kept beside the output). A build takes ~10 s.
#
# Usage: scripts/build-python-step.sh [--force] [OUT.wasm]
#   FLOWBOX_PYTHON_TOOLCHAIN  where the venv and the vendored libraries live
#                             (default: target/python-toolchain)
#   PYTHON                    the Python that creates the venv (default: python3, >= 3.10)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPONENTIZE_PY_VERSION=$(sed -n "s/^COMPONENTIZE_PY_VERSION=//p" "$root/scripts/python-toolchain.sh")

force=0
out=
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "build-python-step: unknown option $arg" >&2; exit 2 ;;
    *) out=$arg ;;
  esac
done
out=${out:-$root/target/wasm/python.wasm}
src=$root/steps/python
toolchain=${FLOWBOX_PYTHON_TOOLCHAIN:-$root/target/python-toolchain}
venv=$toolchain/venv

# 1. componentize-py in its own venv.
bash "$root/scripts/python-toolchain.sh" "$toolchain"

# 2. The vendored libraries, one folder per version of vendor.txt.
vendor_hash=$(sha256sum "$src/vendor.txt" | cut -c1-16)
vendor=$toolchain/vendor-$vendor_hash
if [ ! -f "$vendor/.complete" ]; then
  echo "build-python-step: vendoring the libraries of steps/python/vendor.txt into $vendor" >&2
  rm -rf "$vendor" "$vendor.download"
  mkdir -p "$vendor.download"
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --require-hashes \
    -r "$src/vendor.txt" -d "$vendor.download"
  "$venv/bin/python" - "$vendor.download" "$vendor" <<'PY'
import pathlib, shutil, sys, tarfile, zipfile

download, vendor = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
vendor.mkdir(parents=True)
for archive in sorted(download.iterdir()):
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                top = name.split("/", 1)[0]
                if top.endswith(".dist-info"):
                    if name.split("/")[-1].upper().startswith(("LICENSE", "COPYING")):
                        dest = vendor / "licenses" / f"{top.split('-')[0]}-{name.split('/')[-1]}"
                        dest.parent.mkdir(exist_ok=True)
                        dest.write_bytes(z.read(name))
                    continue
                if name.endswith("/") or ".so" in name.rsplit("/", 1)[-1]:
                    continue
                dest = vendor / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
    elif archive.name.endswith(".tar.gz"):
        # A source release: its pure-Python modules only (a C extension cannot be built here).
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                parts = m.name.split("/")
                if not m.isfile() or len(parts) < 2:
                    continue
                if len(parts) == 2 and parts[1].upper().startswith(("LICENSE", "COPYING")):
                    dest = vendor / "licenses" / f"{parts[0].rsplit('-', 1)[0]}-{parts[1]}"
                elif len(parts) == 3 and parts[2].endswith(".py") and parts[1] not in ("test", "tests", "benchmark", "docs"):
                    dest = vendor / parts[1] / parts[2]
                else:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(t.extractfile(m).read())
    else:
        sys.exit(f"unexpected download {archive.name}")
PY
  rm -rf "$vendor.download"
  touch "$vendor/.complete"
fi

# 3. Nothing to do if no input changed.
stamp_of_inputs() {
  {
    echo "componentize-py $COMPONENTIZE_PY_VERSION"
    sha256sum < "${BASH_SOURCE[0]}"
    (cd "$root" && find -L steps/python wit -type f ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}
stamp=$(stamp_of_inputs)
if [ "$force" = 0 ] && [ -f "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$stamp" ]; then
  echo "build-python-step: $out is up to date"
  exit 0
fi

# 4. Build in a scratch folder: the WIT package plus the python-step world, and a copy of the
# sources (componentize-py writes __pycache__ next to what it imports).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wit" "$work/app"
cp -R "$root/wit/." "$work/wit/"
cp "$src/wit/python-step.wit" "$work/wit/"
cp "$src/app.py" "$work/app/"
cp -R "$src/flowbox" "$work/app/"
rm -rf "$work/app/flowbox/__pycache__"
mkdir -p "$(dirname "$out")"
start=$(date +%s%N)
# VIRTUAL_ENV points componentize-py at this venv's site-packages instead of the caller's.
(cd "$work" && VIRTUAL_ENV="$venv" "$venv/bin/componentize-py" -q -d "$work/wit" -w python-step \
  componentize -p "$work/app" -p "$vendor" app -o "$work/python.wasm")
mv "$work/python.wasm" "$out"
echo "$stamp" > "$out.inputs"
echo "build-python-step: built $out ($(stat -c %s "$out") bytes) in $((($(date +%s%N) - start) / 1000000)) ms"
