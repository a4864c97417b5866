#!/usr/bin/env bash
# Regenerate constraints.txt: the exact versions the tests run against (.ci/run and
# scripts/setup.sh install with `pip install -c constraints.txt`).
#
#   bash scripts/lock.sh            # after a dependency or extra changes, or to move on on purpose
#   LOCK_EXTRAS="plot dev onnx" bash scripts/lock.sh   # lock other extras too
#
# pyproject.toml keeps version *ranges* for users; this file pins one tested set of releases.
# It is a universal lock (markers for every Python layerkit supports), resolved with uv from PyPI,
# and honours the pip constraints this machine may set (e.g. a cap on torch), so a `pip install
# -c constraints.txt` never conflicts with them. To test against the newest releases instead, run
# scripts/test-latest.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every extra the test suite imports; add an extra here when its tests join the default run.
EXTRAS=${LOCK_EXTRAS:-"plot tune onnx report tensorboard dev"}
PYTHON=${PYTHON:-python3}
OUT=constraints.txt

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v uv >/dev/null 2>&1; then
    UV=(uv)
else  # uv from PyPI in a throwaway environment
    "$PYTHON" -m venv "$tmp/venv"
    "$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check uv
    UV=("$tmp/venv/bin/uv")
fi

args=(pip compile pyproject.toml --universal --quiet --output-file "$OUT"
      --custom-compile-command "bash scripts/lock.sh")
for extra in $EXTRAS; do
    args+=(--extra "$extra")
done
# The example plugins' own dependencies (the tests install them; layerkit itself is this tree).
plugin_deps="$tmp/plugins.in"
"$PYTHON" - >"$plugin_deps" <<'PY'
import glob
import tomllib

for path in sorted(glob.glob("plugins/*/pyproject.toml")):
    with open(path, "rb") as fh:
        for dep in tomllib.load(fh)["project"].get("dependencies", []):
            if not dep.startswith("layerkit"):
                print(dep)
PY
args+=("$plugin_deps")
# pip's machine-wide constraints (pip config list: global.constraint), if any, bound the lock too.
machine=$("$PYTHON" -m pip config get global.constraint 2>/dev/null || true)
for file in $machine; do
    [ -f "$file" ] && args+=(--constraint "$file")
done

"${UV[@]}" "${args[@]}"
echo "lock: wrote $OUT ($(grep -c '==' "$OUT") pinned packages; extras: $EXTRAS)"
