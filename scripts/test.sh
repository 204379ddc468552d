#!/usr/bin/env bash
# Runs the test suite once per Keras backend (BACKENDS, default "tensorflow jax torch").
# Extra arguments go to pytest. Tests marked backend_independent (tests/conftest.py) run in the
# first backend's leg only; the later legs pass --skip-backend-independent. Each leg ends with
# pytest's own summary line. Without pytest arguments a last step builds the documentation site
# in strict mode with every tutorial executed (scripts/docs.sh; DOCS=0 skips it). The script
# fails if any leg or the docs build fails, and names them.
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
if [ $# -eq 0 ] && [ "${DOCS:-1}" != 0 ]; then
  echo "=== docs: strict build, tutorials executed (bash scripts/docs.sh)"
  start=$SECONDS
  if bash scripts/docs.sh; then
    echo "docs built in $((SECONDS - start)) s: build/site/index.html"
  else
    echo "docs build FAILED (the error above names the page, link or tutorial cell)"
    failed+=("docs")
  fi
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED under: ${failed[*]}"
  exit 1
fi
echo "all backends passed"
