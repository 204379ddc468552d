# %% [markdown]
# # Training on several devices
#
# `keras_trt.distribute.data_parallel(n, batch_size=...)` trains data-parallel through Keras' own
# engines (`keras.distribution.DataParallel` on JAX, `tf.distribute.MirroredStrategy` on
# TensorFlow): each global batch is split evenly across the devices and the result is the same as
# on one device with the same global batch, TRT's loss terms and BatchNormalization's statistics
# included. This tutorial shows that on 2 *simulated* CPU devices, so it runs on any laptop; on a
# machine with 8 GPUs the same code with `data_parallel(8, ...)` uses them.
#
# JAX needs the number of CPU devices before it starts, so it is set first, before keras_trt and
# Keras are imported (TensorFlow's logical CPU devices are made by `data_parallel` itself).

# %%
import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")  # before JAX starts; TF makes its own

import keras_trt

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_trt import distribute
from keras_trt.data import load_digits
from keras_trt.models import spiking_cnn

BACKEND = keras.backend.backend()
if BACKEND == "jax":
    import jax

    print("JAX devices:", jax.devices())
print("backend:", BACKEND)

# %% [markdown]
# ## One device, then two, from the same initial weights
#
# The same seed gives the same initial weights and the same batches; only the placement differs.
# The batch size is the *global* batch: 64 images per step, 32 on each device. A batch size that
# does not split evenly is refused before anything starts.

# %%
(x_train, y_train), (x_test, y_test) = load_digits()
x_train, y_train = x_train[:1024], y_train[:1024]  # 16 full batches: every batch splits evenly
BATCH, EPOCHS = 64, 3


def train(devices):
    keras.utils.set_random_seed(0)
    with distribute.data_parallel(devices, batch_size=BATCH) as setup:
        model = spiking_cnn((8, 8, 1), 10, timesteps=4)
        model.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"], trt=keras_trt.TRTConfig())
        log = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0).history
    print(f"{setup.num_devices} device(s): final loss {log['loss'][-1]:.5f}, "
          f"consistency term {log['consistency_loss'][-1]:.5f}")
    return model, log


if BACKEND == "torch":
    print("keras 3.15.1 has no data parallelism in fit on torch: run this tutorial with "
          "KERAS_BACKEND=jax or tensorflow (a preset trained there loads on torch).")
    try:
        with distribute.data_parallel(2, batch_size=BATCH):
            pass
    except distribute.DistributeError as e:
        print("DistributeError:", str(e)[:160], "...")
else:
    one, log_one = train(1)
    two, log_two = train(2)

# %% [markdown]
# ## The same result
#
# Every weight, BatchNormalization's moving statistics included, and every logged loss component
# agree up to float32 rounding (the test suite checks this to 1e-5 on JAX and TensorFlow).

# %%
if BACKEND != "torch":
    diffs = [float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(one.get_weights(), two.get_weights())]
    print(f"{len(diffs)} weight tensors, max |difference| {max(diffs):.2e}")
    for key in ("task_loss", "reversed_loss", "consistency_loss", "star_loss"):
        rel = abs(log_one[key][-1] - log_two[key][-1]) / abs(log_one[key][-1])
        print(f"{key:<17} 1 device {log_one[key][-1]:.6f} | 2 devices {log_two[key][-1]:.6f} | relative {rel:.1e}")
    acc = [m.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"] for m in (one, two)]
    print(f"held-out accuracy: 1 device {100 * acc[0]:.2f} %, 2 devices {100 * acc[1]:.2f} %")

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.semilogy(diffs, "o")
    ax.set(xlabel="weight tensor", ylabel="max |1 device − 2 devices|", title=f"after {EPOCHS} epochs of TRT")
    plt.show()

# %% [markdown]
# From the command line, `python -m training.train <recipe> --devices N` does the same for every
# recipe. The limits in keras 3.15.1 (torch has no data parallelism in `fit`; on JAX every batch,
# the last one too, must split evenly), several hosts, and the paper's ImageNet model on 8 GPUs:
# [training on several devices and hosts](../how-to/several-hosts.md).
