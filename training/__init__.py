"""Recipes and command-line tools that train, compare, evaluate and publish keras-trt models."""

import json
import os
from pathlib import Path


def use_backend(name=None):
    """Selects the Keras backend (``name``, else ``KERAS_BACKEND`` or Keras' config) and loads it
    through ``import keras_trt``, which sets TensorFlow's and XLA's process options before the
    backend loads (see ``keras_trt._tf_cpu`` and ``keras_trt._jax_cpu``). Call it before
    anything imports Keras.
    """
    if name:
        os.environ["KERAS_BACKEND"] = name
    import keras_trt  # noqa: F401


def write_json(path, data, **dumps_kwargs):
    """Writes ``data`` as JSON to ``path`` all at once (through a temporary file and a rename), so
    an interrupted run never leaves a half-written file for the next one to trip over."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, **dumps_kwargs))
    os.replace(tmp, path)
