"""keras-trt: spiking neural networks with Temporal Reversed Training for Keras 3.

Runs unchanged on the TensorFlow, JAX and PyTorch backends (``KERAS_BACKEND``).

>>> import keras_trt
>>> lif = keras_trt.layers.LIF(tau=2.0)
"""

__version__ = "0.1.0"

# First: TensorFlow and XLA read their options once, when they load.
from keras_trt import _tf_cpu  # noqa: E402,F401  (oneDNN for TensorFlow, before Keras loads it)
from keras_trt import _jax_cpu  # noqa: E402,F401  (process settings for JAX on the CPU)
from keras_trt import surrogates  # noqa: E402
from keras_trt import layers  # noqa: E402
from keras_trt import trt  # noqa: E402
from keras_trt.trt import TRTConfig, TRTModel  # noqa: E402


def __getattr__(name):
    # Heavier subpackages (tf.data pipelines, Hub access, model builders) load on first use.
    if name in ("data", "zoo", "models", "diagnostics", "analysis", "export", "distribute", "streaming", "anytime"):
        import importlib

        return importlib.import_module(f"keras_trt.{name}")
    raise AttributeError(f"module 'keras_trt' has no attribute {name!r}")
