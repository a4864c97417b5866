#!/usr/bin/env bash
# Set up layerkit on this machine and run the main job.
#
#   bash scripts/setup.sh            # install everything, then train model_specs/two_layer_net.yaml
#   bash scripts/setup.sh --no-train # install only (what .ci/run uses)
#
# Installs: Debian's Fashion-MNIST package (when apt is available and the data is missing),
# layerkit in editable mode with its plot, dev and onnx extras, and the example plugin.
set -euo pipefail
cd "$(dirname "$0")/.."

train=1
for arg in "$@"; do
    case "$arg" in
        --no-train) train=0 ;;
        *) echo "usage: $0 [--no-train]" >&2; exit 2 ;;
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

echo "setup: installing layerkit[plot,dev,onnx] and the example plugin"
# Two steps, not one: pip < 23.3 cannot resolve the plugin's `layerkit` requirement against an
# editable `.[extras]` named in the same command ("No matching distribution found for layerkit").
"$PYTHON" -m pip install -q --disable-pip-version-check -e '.[plot,dev,onnx]'
"$PYTHON" -m pip install -q --disable-pip-version-check ./plugins/layerkit-activations

if [ "$train" -eq 1 ]; then
    echo "setup: training model_specs/two_layer_net.yaml"
    "$PYTHON" -m layerkit train model_specs/two_layer_net.yaml
fi
