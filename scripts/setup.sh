#!/usr/bin/env bash
# Set up layerkit on this machine and run the main job.
#
#   bash scripts/setup.sh            # install everything, then train model_specs/two_layer_net.yaml
#   bash scripts/setup.sh --no-train # install only (what .ci/run uses)
#   bash scripts/setup.sh --latest   # the newest releases pyproject.toml allows, not the lock
#
# Installs: Debian's Fashion-MNIST package (when apt is available and the data is missing),
# layerkit in editable mode with its plot and dev extras, and the example plugin. Dependencies
# come at the versions pinned in constraints.txt (written by scripts/lock.sh), so the tests run
# against the set they were last run with; --latest drops the pins (scripts/test-latest.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

train=1
pins=(-c constraints.txt)
for arg in "$@"; do
    case "$arg" in
        --no-train) train=0 ;;
        --latest) pins=() ;;
        *) echo "usage: $0 [--no-train] [--latest]" >&2; exit 2 ;;
    esac
done

PYTHON=${PYTHON:-python3}
DATA=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

if [ ! -e "$DATA" ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        echo "setup: installing Debian's dataset-fashion-mnist"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist
    else
        echo "setup: no apt-get here; layerkit will download Fashion-MNIST on first use" >&2
    fi
fi

echo "setup: installing layerkit[plot,dev] and the example plugin"
# Two steps, not one: pip < 23.3 cannot resolve the plugin's `layerkit` requirement against an
# editable `.[extras]` named in the same command ("No matching distribution found for layerkit").
"$PYTHON" -m pip install -q --disable-pip-version-check ${pins[@]+"${pins[@]}"} -e '.[plot,dev]'
"$PYTHON" -m pip install -q --disable-pip-version-check ${pins[@]+"${pins[@]}"} ./plugins/layerkit-activations

if [ "$train" -eq 1 ]; then
    echo "setup: training model_specs/two_layer_net.yaml"
    "$PYTHON" -m layerkit train model_specs/two_layer_net.yaml
fi
