#!/bin/sh
# make bench: kiln vs ONNX Runtime vs PyTorch, batch 1, one thread, side by
# side (bench/bench.py), writing docs/performance.md and performance.png.
# Runs in the tests' virtual environment (created with torch if missing;
# VENV=DIR uses another one that already has them) and installs matplotlib
# for the chart into BUILD_DIR/bench-py, not into the venv.  Timings are
# printed, never asserted.  The int8 rows (kiln int8 and float, ONNX
# Runtime on the same QDQ model and on the float one) come after the float
# ones.  Usage: bench/run.sh BUILD_DIR [a,b,... [int8 a,b,...]] (a subset
# is printed only; an empty list runs none of that kind)
set -eu
build=$1
here=$(dirname "$0")
venv=${VENV:-$build/venv}
sh "$here/../tests/e2e/setup_venv.sh" "$venv" base
sh "$here/../tests/e2e/setup_venv.sh" "$venv" torch
py="$build/bench-py"
if [ ! -f "$py/.stamp" ]; then
	# numpy pinned to the venv's so pip does not pull a second one.
	"$venv/bin/python" -m pip install -q --disable-pip-version-check --target "$py" \
		matplotlib==3.9.2 numpy==1.26.4 && touch "$py/.stamp" ||
		echo "bench: matplotlib not installed; the chart will be skipped" >&2
fi
# Only the full set rewrites docs/performance.md and performance.png.
if [ $# -gt 1 ]; then
	exec "$venv/bin/python" "$here/bench.py" "$build/bin/kiln" --plot-deps "$py" --models "$2" --int8 "${3:-}"
fi
exec "$venv/bin/python" "$here/bench.py" "$build/bin/kiln" --plot-deps "$py" --docs "$here/../docs"
