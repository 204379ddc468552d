#!/usr/bin/env bash
# Runs the whole test suite once per Keras backend. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
failed=()
for backend in ${BACKENDS:-tensorflow jax torch}; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider "$@" || failed+=("$backend")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED under: ${failed[*]}"
  exit 1
fi
echo "all backends passed"
