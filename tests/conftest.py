"""Test-suite setup, and which tests run under which backend.

``scripts/test.sh`` runs this suite once per Keras backend (``BACKENDS``, default
``tensorflow jax torch``). Tests whose outcome cannot depend on the Keras backend (file readers
and tf.data pipelines, zoo cards, registry and Hub/integrity checks, benchmark bookkeeping,
full-size parameter counts, recipe checks, docstring and README examples) carry the
``backend_independent`` marker and run in the first backend's leg only::

    pytestmark = pytest.mark.backend_independent        # every test of a module

    @pytest.mark.backend_independent                    # one test
    def test_reads_the_header(): ...

Selection (plain pytest options, combinable with ``-k``, ``-m``, paths):

- ``--skip-backend-independent``: the later legs of ``scripts/test.sh``;
- ``--backend-independent-only``: only the marked tests (also ``-m backend_independent``).

A test that trains, saves or compares a model's numbers is backend-dependent even when it is
slow; mark a test only if it would give the same result under every backend.
"""

import os
import re
import sys

import pytest

HERE = os.path.dirname(__file__)
# The tests import their helpers (reference.py, backend_utils.py) as top-level modules, and the
# training/ entry points from the repository root.
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MARKER = "backend_independent"
_WHOLE_MODULE = re.compile(rf"^pytestmark = pytest\.mark\.{MARKER}$", re.M)


def pytest_addoption(parser):
    group = parser.getgroup("keras-trt", "keras-trt backend legs")
    group.addoption(
        "--skip-backend-independent", action="store_true",
        help=f"deselect tests marked {MARKER} (they ran in another backend's leg)",
    )
    group.addoption(
        "--backend-independent-only", action="store_true",
        help=f"run only the tests marked {MARKER}",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"{MARKER}: the result does not depend on KERAS_BACKEND; run in one backend's leg only"
    )
    if config.getoption("--skip-backend-independent") and config.getoption("--backend-independent-only"):
        raise pytest.UsageError("--skip-backend-independent and --backend-independent-only exclude each other.")


def pytest_ignore_collect(collection_path, config):
    # Later legs do not even import a module whose every test is marked (saves its imports).
    if (
        config.getoption("--skip-backend-independent")
        and collection_path.suffix == ".py"
        and collection_path.name.startswith("test_")
        and _WHOLE_MODULE.search(collection_path.read_text(encoding="utf-8"))
    ):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    skip = config.getoption("--skip-backend-independent")
    only = config.getoption("--backend-independent-only")
    if not (skip or only):
        return
    keep, drop = [], []
    for item in items:
        marked = item.get_closest_marker(MARKER) is not None
        (drop if marked == skip else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
