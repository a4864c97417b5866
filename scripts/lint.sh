#!/usr/bin/env bash
# The checks every commit passes, in seconds: lint (with import order), formatting, types.
#
#   bash scripts/lint.sh          # what .ci/run and the pre-commit hooks run
#
# Uses the ruff and mypy of the active Python (the `dev` extra installs both);
# their settings are in pyproject.toml ([tool.ruff], [tool.mypy]).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
status=0
run() {
    echo "lint: $*"
    "$PYTHON" -m "$@" || status=1
}
run ruff check .
run ruff format --check .
run mypy layerkit
exit "$status"
