"""Subprocess helper of test_architectures.py: loads saved models under $KERAS_BACKEND.

usage: python _load_models_and_predict.py MANIFEST.json OUT.npz

The manifest maps a name to ``{"model": path.keras, "inputs": path.npy}``. For each name the
output holds the logits under ``name`` or the error under ``name + ":error"``. Only
``import keras_trt`` is done: a saved model must load without importing keras_trt.models.
"""

import json
import os
import sys
import traceback

if hasattr(os, "nice"):
    os.nice(10)  # runs beside the test process: let it have the CPU first

import keras
import numpy as np

import keras_trt  # noqa: F401  (registers the serializable classes)

if keras.backend.backend() == "jax":
    # Speed only: under JAX every weight shape compiles its own random initializer (~0.3 s
    # each), and loading overwrites those values anyway. Zeros from NumPy compile nothing.
    from keras.src.backend.jax import random as _jax_random

    def _zeros(shape, *args, dtype=None, **kwargs):
        return np.zeros(shape, dtype or "float32")

    _jax_random.normal = _jax_random.uniform = _jax_random.truncated_normal = _zeros

manifest_path, out_path = sys.argv[1:]
with open(manifest_path) as f:
    manifest = json.load(f)
results = {}
for name, item in manifest.items():
    try:
        model = keras.saving.load_model(item["model"])
        assert isinstance(model, keras_trt.TRTModel), type(model)
        assert model.trt_config is not None, "the TRT compile config did not survive the round trip"
        x = np.load(item["inputs"])
        results[name] = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
    except Exception:  # reported per architecture by the test
        results[name + ":error"] = np.array(traceback.format_exc())
np.savez(out_path, **results)
