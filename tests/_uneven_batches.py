"""Helper of test_loud_runs: 41 held-out and 45 training samples on 2 devices against 1 device."""

import json

import keras
import numpy as np

import keras_trt
from keras_trt import distribute

with distribute.data_parallel(2):  # first: TensorFlow splits the CPU only before its runtime starts
    pass
rng = np.random.default_rng(0)
x = rng.normal(size=(45, 6, 5)).astype("float32")
y = rng.integers(0, 3, 45)


def build():
    keras.utils.set_random_seed(0)
    m = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
    m.compile("adam", metrics=["accuracy"], trt=True)
    return m


one = build()
one_eval = one.evaluate(x[:41], y[:41], batch_size=8, verbose=0)
one_pred = one.predict(x[:41], batch_size=8, verbose=0)
out = {}
with distribute.data_parallel(2):
    many = build()
    many.set_weights(one.get_weights())
    out["many_eval"] = [float(v) for v in many.evaluate(x[:41], y[:41], batch_size=8, verbose=0)]
    pred = many.predict(x[:41], batch_size=8, verbose=0)
    many.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=(x[:41], y[:41]))
    try:
        many.fit(x, y, batch_size=7, epochs=1, verbose=0)  # a batch that does not split
        out["batch_error"] = ""
    except distribute.DistributeError as err:
        out["batch_error"] = str(err)
    try:
        many.fit(x, y, batch_size=8, epochs=1, verbose=0, last_batch="error")
        out["error"] = ""
    except distribute.DistributeError as err:
        out["error"] = str(err)
with distribute.data_parallel(2):  # a second distributed fit in the same process
    again = build()
    loss = again.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
out.update(one_eval=[float(v) for v in one_eval], one_pred=one_pred.tolist(), many_pred=pred.tolist(),
           pred_rows=len(pred), second_fit_finite=bool(np.isfinite(loss)))
print(json.dumps(out))
