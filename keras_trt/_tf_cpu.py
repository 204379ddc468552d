"""oneDNN for TensorFlow on every x86 CPU, set before TensorFlow loads (nothing here imports Keras).

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX512_VNNI, AVX512_BF16 or
AMX; elsewhere (AVX2 CPUs such as AMD Zen 3) it runs Eigen's convolutions, which are much
slower for spiking ResNets. Measured on a 2-core AMD EPYC (Zen 3, AVX2), spiking ResNet-18
CIFAR, B=32, T=2: training step 2.73 s -> 1.62 s (SpikingJelly: 1.83 s in the same session).
PyTorch uses oneDNN convolutions on these CPUs by default.

``import keras_trt`` calls :func:`configure_onednn` before it imports Keras. It applies when
Keras' backend will be TensorFlow, TensorFlow has not been imported yet, and neither
``TF_ENABLE_ONEDNN_OPTS`` (yours wins), ``KERAS_TRT_TF_ONEDNN=0`` nor ``KERAS_TRT_FAST_PATHS=0``
says otherwise. TensorFlow reads the variable once, when it loads; the function sets it,
imports TensorFlow, makes it read the variable, and puts the environment back, so subprocesses
start with TensorFlow's defaults. Hence: import keras_trt before Keras or TensorFlow (or set
``TF_ENABLE_ONEDNN_OPTS=1`` yourself). oneDNN's kernels round differently from Eigen's (float32
results differ in the last bits).
"""

from __future__ import annotations

import json
import os
import sys


def _keras_backend(environ):
    """The backend Keras will load, read as Keras reads it, without importing Keras."""
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    home = environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def onednn_wanted(environ=None, modules=None):
    """Whether :func:`configure_onednn` should act under ``environ`` and the loaded ``modules``.

    >>> onednn_wanted({"KERAS_BACKEND": "tensorflow", "TF_ENABLE_ONEDNN_OPTS": "0"}, modules={})
    False
    >>> onednn_wanted({"KERAS_BACKEND": "jax"}, modules={})
    False
    >>> onednn_wanted({"KERAS_BACKEND": "tensorflow", "KERAS_TRT_TF_ONEDNN": "0"}, modules={})
    False
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if environ.get("KERAS_TRT_FAST_PATHS", "1") == "0" or environ.get("KERAS_TRT_TF_ONEDNN", "1") == "0":
        return False
    if "TF_ENABLE_ONEDNN_OPTS" in environ or "tensorflow" in modules:
        return False  # the user's choice, or too late: TensorFlow has read it already
    return _keras_backend(environ) == "tensorflow"


def configure_onednn():
    """Turns on TensorFlow's oneDNN kernels for this process when wanted; returns whether."""
    if not onednn_wanted():
        return False
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())  # reads the variable now, once per process
    except ImportError:  # no TensorFlow (Keras will say so), or an internal that moved
        return False
    finally:
        del os.environ["TF_ENABLE_ONEDNN_OPTS"]


ONEDNN_CONFIGURED = configure_onednn()
