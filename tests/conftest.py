import os
import sys

HERE = os.path.dirname(__file__)
# The tests import their helpers (reference.py, backend_utils.py) as top-level modules, and the
# training/ entry points from the repository root.
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
