#!/usr/bin/env bash
# Run the test suite against the newest releases pyproject.toml allows, ignoring constraints.txt:
# a fresh virtual environment, `scripts/setup.sh --latest --no-train`, then pytest. A failure here
# that .ci/run does not show is a new release breaking layerkit: fix it, then refresh the lock
# with scripts/lock.sh.
#
#   bash scripts/test-latest.sh              # the whole default suite
#   bash scripts/test-latest.sh -x tests/adversarial   # pytest arguments are passed on
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${LATEST_VENV:-$(mktemp -d)/venv}
"$PYTHON" -m venv "$VENV"
echo "test-latest: fresh environment in $VENV"
PYTHON="$VENV/bin/python" bash scripts/setup.sh --latest --no-train
"$VENV/bin/python" -m pip list --format=freeze --disable-pip-version-check > "$VENV/versions.txt"
echo "test-latest: installed versions in $VENV/versions.txt"
"$VENV/bin/python" -m pytest "$@"
