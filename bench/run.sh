#!/bin/sh
# make bench: kiln vs PyTorch, side by side, in the tests' virtual
# environment (created with torch if missing).  Timings are printed, never
# asserted.  Usage: bench/run.sh BUILD_DIR [models]
set -eu
build=$1
models=${2:-resnet18,mobilenet_v2,squeezenet1_1,kws_dscnn,autoencoder}
here=$(dirname "$0")
sh "$here/../tests/e2e/setup_venv.sh" "$build/venv" base
sh "$here/../tests/e2e/setup_venv.sh" "$build/venv" torch
exec "$build/venv/bin/python" "$here/resnet18_vs_torch.py" "$build/bin/kiln" --models "$models"
