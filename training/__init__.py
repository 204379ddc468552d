"""Recipes and command-line tools that train, compare, evaluate and publish keras-trt models."""

import os


def use_backend(name=None):
    """Selects the Keras backend (``name``, else ``KERAS_BACKEND`` or Keras' config) and loads it
    through ``import keras_trt``, which sets TensorFlow's and XLA's process options before the
    backend loads (see ``keras_trt._tf_cpu`` and ``keras_trt._jax_cpu``). Call it before
    anything imports Keras.
    """
    if name:
        os.environ["KERAS_BACKEND"] = name
    import keras_trt  # noqa: F401
