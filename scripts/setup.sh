#!/usr/bin/env bash
# Set up layerkit on this machine and run the main job.
#
#   bash scripts/setup.sh            # install everything, then train model_specs/two_layer_net.yaml
#   bash scripts/setup.sh --no-train # install only (what .ci/run uses)
#
<<<<<<< HEAD
# Installs: Debian's Fashion-MNIST and Graphviz packages (when apt is available and they are missing),
# layerkit in editable mode with its plot and dev extras, and the example plugin.
=======
# Installs: Debian's Fashion-MNIST package (when apt is available and the data is missing),
# layerkit in editable mode with its plot and dev extras, the example plugin, and (with npm)
# yaml-language-server for the editor tests.
>>>>>>> main
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

# Debian packages: the Fashion-MNIST data, and Graphviz (`dot`, which `layerkit graph --format
# svg/png` and its tests use).
APT_PACKAGES=()
[ -e "$DATA" ] || APT_PACKAGES+=(dataset-fashion-mnist)
command -v dot >/dev/null 2>&1 || APT_PACKAGES+=(graphviz)
if [ "${#APT_PACKAGES[@]}" -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        echo "setup: installing Debian packages: ${APT_PACKAGES[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT_PACKAGES[@]}"
    else
        echo "setup: no apt-get here; layerkit will download Fashion-MNIST on first use, and" \
            "'layerkit graph' renders SVG/PNG only once Graphviz is installed" >&2
    fi
fi

echo "setup: installing layerkit[plot,dev] and the example plugin"
# Two steps, not one: pip < 23.3 cannot resolve the plugin's `layerkit` requirement against an
# editable `.[extras]` named in the same command ("No matching distribution found for layerkit").
"$PYTHON" -m pip install -q --disable-pip-version-check -e '.[plot,dev]'
"$PYTHON" -m pip install -q --disable-pip-version-check ./plugins/layerkit-activations

# The editor tests drive the real yaml-language-server (an npm package) over LSP; without npm
# they are skipped, except in CI (CI set), where they must run.
YAML_LS_VERSION=1.25.0
if command -v npm >/dev/null 2>&1; then
    if [ ! -x .cache/npm/node_modules/.bin/yaml-language-server ] \
        || ! grep -q "\"version\": \"$YAML_LS_VERSION\"" .cache/npm/node_modules/yaml-language-server/package.json; then
        echo "setup: installing yaml-language-server $YAML_LS_VERSION (npm) into .cache/npm for the editor tests"
        npm install --prefix .cache/npm --no-audit --no-fund --loglevel=error "yaml-language-server@$YAML_LS_VERSION"
    fi
elif [ -n "${CI:-}" ]; then
    echo "setup: npm is required in CI (the editor tests run yaml-language-server)" >&2
    exit 1
else
    echo "setup: no npm here; the editor tests (yaml-language-server) will be skipped" >&2
fi

if [ "$train" -eq 1 ]; then
    echo "setup: training model_specs/two_layer_net.yaml"
    "$PYTHON" -m layerkit train model_specs/two_layer_net.yaml
fi
