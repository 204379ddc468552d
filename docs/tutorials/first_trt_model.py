# %% [markdown]
# # Your first TRT model
#
# A spiking CNN, built layer by layer, trained on scikit-learn's 8x8 handwritten digits (shipped
# inside the scikit-learn wheel: no download) twice from the same initial weights: once with
# Temporal Reversed Training (TRT) and once as a plain SNN. Along the way: what each layer does
# to the `[B, T, ...]` tensors, what TRT adds to the loss, and why the trained model costs at
# inference exactly what the plain SNN costs.

# %%
import keras_trt  # before keras: on TensorFlow it turns oneDNN on before TensorFlow loads

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_trt import layers
from keras_trt.data import load_digits

(x_train, y_train), (x_test, y_test) = load_digits()
print(f"backend {keras.backend.backend()} | train {x_train.shape}, test {x_test.shape}, classes {np.unique(y_train).size}")

# %% [markdown]
# ## The network
#
# A static image is repeated over `T` time steps (direct encoding). Ordinary Keras layers run on
# the time-folded `[B*T, ...]` tensor through `TimeFolded`; `LIF` neurons integrate over time
# and emit spikes. `TemporalReversal` marks where TRT reverses the time axis: for static
# images, right after the first spiking layer (reversing the repeated input itself would change
# nothing). `StarProduct` feeds the classifier with firing rates, and, in TRT training only,
# also with the product of the original and the reversed rates (the "star" term).

# %%
T = 4


def build():
    x = keras.Input((8, 8, 1))
    h = layers.RepeatTime(T)(x)                                   # [B, T, 8, 8, 1]
    h = layers.TimeFolded(keras.layers.Conv2D(16, 3, padding="same"))(h)
    h = layers.batch_norm()(h)                                    # BN over batch and time
    h = layers.LIF(tau=2.0, detach_reset=True, surrogate="atan")(h)
    h = layers.TemporalReversal()(h)                              # TRT's reversal point
    h = layers.TimeFolded(keras.layers.Conv2D(32, 3, strides=2, padding="same"))(h)
    h = layers.batch_norm()(h)
    h = layers.LIF(tau=2.0, detach_reset=True, surrogate="atan")(h)
    h = layers.TimeFolded(keras.layers.GlobalAveragePooling2D())(h)   # [B, T, 32] spike features
    h = layers.StarProduct()(h)                                   # firing rates [B, 32]
    out = keras.layers.Dense(10, name="classifier")(h)
    return keras_trt.TRTModel(x, out)


model = build()
model.summary()

# %% [markdown]
# ## Train with TRT and without
#
# `compile(trt=keras_trt.TRTConfig())` turns TRT on: each training step runs the original and the
# reversed sequence through the shared weights and minimises
# `CE(O, y) + CE(O_rev, y) + KL(O || O_rev) + CE(O_star, y)` (all weights 1 by default). With
# `trt=None` the same model trains as the plain SNN. Both runs start from the same initial weights
# and see the same batches (`set_random_seed`).

# %%
EPOCHS = 8


def train(trt):
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"], trt=keras_trt.TRTConfig() if trt else None)
    history = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=64, verbose=0,
                        validation_data=(x_test, y_test))
    return model, history.history


trt_model, trt_log = train(trt=True)
plain_model, plain_log = train(trt=False)
print("logged by the TRT run:", sorted(k for k in trt_log if not k.startswith("val_")))
for name, log in (("TRT", trt_log), ("plain SNN", plain_log)):
    print(f"{name:>9}: held-out accuracy after {EPOCHS} epochs {100 * log['val_accuracy'][-1]:.2f} %")

# %% [markdown]
# The TRT run logs each term of its loss. The reversed branch's loss follows the original's, and
# the consistency term (the KL between the two branches' predictions) shrinks as the network
# learns to answer the same for a sequence and its reversal.

# %%
epochs = np.arange(1, EPOCHS + 1)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
for key, label in (("task_loss", "CE(O, y)"), ("reversed_loss", "CE(O_rev, y)"),
                   ("consistency_loss", "KL(O || O_rev)"), ("star_loss", "CE(O_star, y)")):
    ax1.plot(epochs, trt_log[key], label=label)
ax1.set(xlabel="epoch", ylabel="loss", title="TRT's loss terms", yscale="log")
ax1.legend()
ax2.plot(epochs, 100 * np.array(trt_log["val_accuracy"]), label="TRT")
ax2.plot(epochs, 100 * np.array(plain_log["val_accuracy"]), label="plain SNN")
ax2.set(xlabel="epoch", ylabel="held-out accuracy (%)", title="digits, 360 test images")
ax2.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# One seed says little about which training is better: the tutorial
# [TRT against the plain SNN, the honest way](trt_vs_plain.md) pairs seeds and also gives the
# plain SNN TRT's training compute.
#
# ## Inference is the plain SNN
#
# Outside the training step `TemporalReversal` is the identity and `StarProduct` the firing rate:
# `predict` runs one branch, no product. The same weights in a network built without the two TRT
# layers give the same logits.

# %%
logits = trt_model.predict(x_test, verbose=0)

x = keras.Input((8, 8, 1))
h = layers.RepeatTime(T)(x)
for layer in trt_model.layers[2:]:
    if isinstance(layer, layers.TemporalReversal):
        continue  # no reversal at all
    h = layers.FiringRate()(h) if isinstance(layer, layers.StarProduct) else layer(h)
plain_net = keras.Model(x, h)
print("layers of the inference copy:", [type(l).__name__ for l in plain_net.layers[1:]])
print("max |logit difference|:", float(np.abs(plain_net.predict(x_test, verbose=0) - logits).max()))
print(f"held-out accuracy: {100 * np.mean(logits.argmax(-1) == y_test):.2f} %")

# %% [markdown]
# ## Is it firing?
#
# An SNN that trains well can still go silent at inference (BatchNormalization's moving statistics
# lag behind, no membrane reaches threshold). `check_silence` compares the firing rates in
# inference and in training mode, layer by layer.

# %%
report = keras_trt.diagnostics.check_silence(trt_model, x_test)
print(report)

# %% [markdown]
# Next: [fine-tune a zoo model on your data](fine_tuning.md), or see what this network costs in
# spikes and operations in [analysing spikes, operations and energy](spikes_and_energy.md).
