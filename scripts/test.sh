#!/usr/bin/env bash
# Runs the test suite once per Keras backend (BACKENDS, default "tensorflow jax torch").
# Extra arguments go to pytest. Tests marked backend_independent (tests/conftest.py) run in the
# first backend's leg only; the later legs pass --skip-backend-independent. Each leg ends with
# pytest's own summary line; the script fails if any leg fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
failed=()
leg_options=()
for backend in ${BACKENDS:-tensorflow jax torch}; do
  echo "=== KERAS_BACKEND=$backend${leg_options[*]:+ (${leg_options[*]})}"
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider "${leg_options[@]}" "$@"
  status=$?
  # 5 = nothing selected: the arguments picked only backend-independent tests, which already ran.
  if [ $status -ne 0 ] && ! { [ $status -eq 5 ] && [ ${#leg_options[@]} -gt 0 ]; }; then
    failed+=("$backend")
  fi
  leg_options=(--skip-backend-independent)
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED under: ${failed[*]}"
  exit 1
fi
echo "all backends passed"
