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


def positive_int(text):
    """argparse type: a whole number >= 1 (``--epochs 0`` and ``--epochs 2.5`` are refused with
    argparse's usual message and exit status 2)."""
    return _whole(text, 1)


def nonnegative_int(text):
    """argparse type: a whole number >= 0 (seeds)."""
    return _whole(text, 0)


def positive_float(text):
    """argparse type: a finite number > 0."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _whole(text, low):
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, got {text}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, got {text}")
    return value
