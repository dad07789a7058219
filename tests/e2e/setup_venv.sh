#!/bin/sh
# Create the Python virtual environment the end-to-end tests use for
# oracles (onnx, onnxruntime, numpy), and with "torch" also PyTorch and
# torchvision for the models tier, and scikit-learn for the int8 tier's
# data (its bundled digits, on which the small int8 models are trained and
# calibrated, and its two sample photographs for the image models).
# Idempotent: a stamp file records what was installed, named after the
# package list so that a changed list installs again.
# Usage: setup_venv.sh VENV_DIR [torch]
set -eu
venv=$1
want=${2:-base}
base="numpy==1.26.4 onnx==1.17.0 onnxruntime==1.20.1"
torch="torch==2.5.1 torchvision==0.20.1 scikit-learn==1.5.2 scipy==1.14.1"
stamp="$venv/.kiln-$want-$(echo "$base $torch" | cksum | cut -d' ' -f1)"
[ -f "$stamp" ] && exit 0
mkdir -p "$(dirname "$venv")"
# One creator at a time: ctest may start several tests that need it.
exec 9>"$venv.lock"
flock 9
[ -f "$stamp" ] && exit 0
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check $base
if [ "$want" = torch ]; then
	"$venv/bin/python" -m pip install -q --disable-pip-version-check $torch
fi
touch "$stamp"
