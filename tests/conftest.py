import os
import sys

# The tests import their helpers (reference.py, backend_utils.py) as top-level modules.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
