"""Subprocess helper of test_trt_model.py: loads a model under $KERAS_BACKEND and predicts.

usage: python _load_and_predict.py MODEL.keras INPUTS.npy OUT.npy
"""

import sys

import keras
import numpy as np

import keras_trt  # noqa: F401  (registers the serializable classes)

model_path, inputs_path, out_path = sys.argv[1:]
model = keras.saving.load_model(model_path)
assert model.trt_config is not None, "the TRT compile config did not survive the round trip"
np.save(out_path, model.predict(np.load(inputs_path), verbose=0))
