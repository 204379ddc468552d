"""Subprocess body of test_distribute.py: one device vs N devices, same global batch.

Run as ``python tests/_data_parallel_equivalence.py N OUT.npz`` in a process started with N
simulated devices (JAX needs them before it initialises; TF's logical CPUs are made by
keras_trt.distribute before TF starts). Trains the same TRT model with BatchNormalization twice
from the same initial weights: on one device, then under ``distribute.data_parallel(N)``; saves
both runs' weights (BN moving statistics included) and per-step logs.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_trt  # noqa: E402
from keras_trt import distribute  # noqa: E402
from keras_trt import layers  # noqa: E402

BATCH, STEPS, EPOCHS = 8, 3, 2


def bn_model():
    """Conv-BN-LIF, reversal, Conv-BN-LIF (BN over both halves), star product, classifier; the
    BN scale starts at 3 so that the neurons fire and every loss term is non-zero."""
    bn = lambda name: layers.TimeFolded(  # noqa: E731
        keras.layers.BatchNormalization(gamma_initializer=keras.initializers.Constant(3.0)), name=name)
    x = keras.Input((8, 8, 1))
    h = layers.RepeatTime(3)(x)
    h = layers.TimeFolded(keras.layers.Conv2D(6, 3, padding="same", use_bias=False), name="conv1")(h)
    h = layers.LIF(detach_reset=True)(bn("bn1")(h))
    h = layers.TemporalReversal()(h)
    h = layers.TimeFolded(keras.layers.Conv2D(8, 3, strides=2, padding="same"), name="conv2")(h)
    h = layers.LIF(detach_reset=True)(bn("bn2")(h))
    h = layers.TimeFolded(keras.layers.GlobalAveragePooling2D(), name="pool")(h)
    h = layers.StarProduct()(h)
    big = keras.initializers.RandomNormal(stddev=4.0, seed=1)  # distinct branches: a sizeable KL
    return keras_trt.TRTModel(x, keras.layers.Dense(4, kernel_initializer=big, name="classifier")(h))


class StepLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append({k: float(v) for k, v in logs.items()})


def run(devices, initial, x, y, sample_weight):
    with distribute.data_parallel(devices, batch_size=BATCH) as setup:
        keras.utils.set_random_seed(0)
        model = bn_model()
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        model.compile(keras.optimizers.SGD(0.02, momentum=0.9), metrics=["accuracy"],
                      trt=keras_trt.TRTConfig(temperature=2.0))
        logs = StepLogs()
        model.fit(x, y, sample_weight=sample_weight, batch_size=BATCH, epochs=EPOCHS,
                  shuffle=False, verbose=0, callbacks=[logs])
        weights = [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights]
        names = [w.path for w in model.weights]
    assert setup.num_devices == devices, setup
    keys = sorted(logs.rows[0])
    return initial, weights, names, np.array([[row[k] for k in keys] for row in logs.rows]), keys


def main(devices, out):
    # The multi-device run goes first (and makes the initial weights): TF's logical CPUs must
    # be made before TF starts.
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(BATCH * STEPS, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 4, size=(BATCH * STEPS,))
    sw = rng.uniform(0.5, 1.5, size=(BATCH * STEPS,)).astype("float32")
    initial, many, names, many_logs, keys = run(devices, None, x, y, sw)
    _, one, _, one_logs, keys_one = run(1, initial, x, y, sw)
    assert keys == keys_one, (keys, keys_one)
    np.savez(out, names=np.array(names), keys=np.array(keys), one_logs=one_logs,
             many_logs=many_logs, **{f"init_{i}": w for i, w in enumerate(initial)},
             **{f"one_{i}": w for i, w in enumerate(one)}, **{f"many_{i}": w for i, w in enumerate(many)})


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
