#!/usr/bin/env bash
# Builds the documentation site into build/site in strict mode, every tutorial executed
# (docs/tutorials/*.py, KERAS_BACKEND=jax unless DOCS_BACKEND is set): broken links, missing
# references and failing tutorials fail the build. `bash scripts/docs.sh serve` builds and serves
# it at http://127.0.0.1:8000 (rebuilding on changes). Tutorial results are cached in
# build/docs-cache/ by the hash of the script and of keras_trt/ and zoo/ (DOCS_CACHE=0: re-run
# all; DOCS_TUTORIALS=a,b: build only those). Design: docs/explanation/design.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND="${KERAS_BACKEND:-jax}" NO_MKDOCS_2_WARNING=1
if ! .venv/bin/python -c "import mkdocs, material, mkdocstrings_handlers.python" 2>/dev/null; then
  echo "the documentation tools are missing: run bash scripts/setup.sh (it installs the docs extra)" >&2
  exit 1
fi
case "${1:-build}" in
  build) shift || true; exec .venv/bin/python -m mkdocs build --strict "$@" ;;
  serve) shift; exec .venv/bin/python -m mkdocs serve --strict "$@" ;;
  *) echo "usage: bash scripts/docs.sh [build|serve] [mkdocs options]" >&2; exit 2 ;;
esac
