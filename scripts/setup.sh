#!/usr/bin/env bash
# Creates .venv (if missing) and installs keras-trt with every backend, the data extras, the
# test tools and the documentation tools, at the versions in requirements/pins.txt (torch pinned
# to a CPU build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -c requirements/pins.txt -e ".[all,test,docs]"
.venv/bin/python -c "import keras_trt, keras; print('keras-trt', keras_trt.__version__, '| keras', keras.__version__)"
