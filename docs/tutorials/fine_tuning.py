# %% [markdown]
# # Fine-tuning a zoo model on your data
#
# The zoo's `sresnet20-mnist-t2` is a spiking ResNet-20 (half width, T=2) trained with TRT on
# 4,000 MNIST digits. "Your data" here is another digits data set: scikit-learn's 8x8 digits,
# scanned and preprocessed differently, scaled up to MNIST's 28x28 frame. With only a few hundred
# labelled images, a pretrained backbone should beat training the same network from scratch.
# Three ways to use the zoo model, all offline (the preset ships inside the package):
#
# 1. as it is (the classes are the same ten digits);
# 2. a new head trained on the frozen backbone's spike features;
# 3. the whole network fine-tuned;
#
# against the same architecture trained from scratch for as many epochs.

# %%
import keras_trt

import keras
import matplotlib.pyplot as plt
import numpy as np

from keras_trt import zoo
from keras_trt.data import load_digits

NAME = "sresnet20-mnist-t2"
print(zoo.info(NAME, show=False)["load"], "|", zoo.info(NAME, show=False)["metrics"])

# %% [markdown]
# ## Your data in the model's input format
#
# The model takes `[B, 28, 28, 1]` images in [0, 1] with the digit inside the central 20x20 box,
# as MNIST has it. The 8x8 digits are resized to 20x20 and padded by 4 pixels. We keep 300 images
# for training (a small labelled set) and the usual 359 for testing.

# %%
(x_train, y_train), (x_test, y_test) = load_digits()


def to_mnist_frame(images):
    resized = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (20, 20), interpolation="bilinear"))
    return np.pad(np.clip(resized, 0, 1), ((0, 0), (4, 4), (4, 4), (0, 0))).astype("float32")


x_train, x_test = to_mnist_frame(x_train[:300]), to_mnist_frame(x_test)
y_train = y_train[:300]
print("train", x_train.shape, "test", x_test.shape, "classes in train:", np.bincount(y_train).tolist())

fig, axes = plt.subplots(1, 8, figsize=(10, 1.6))
for ax, image, label in zip(axes, x_train, y_train):
    ax.imshow(image[..., 0], cmap="gray")
    ax.set_title(str(label))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 1. The zoo model as it is
#
# `zoo.load` returns a model compiled for fine-tuning (Adam 1e-3, TRT with default settings, since
# the model has a `TemporalReversal`). Evaluating it needs no training at all.

# %%
pretrained = zoo.load(NAME)
# One pass gives the logits and, for step 2, the backbone's spike features (the head's input).
backbone = keras_trt.models.backbone(pretrained)
both = keras.Model(pretrained.input, [pretrained.output, backbone.output])
logits, spikes_test = both.predict(x_test, verbose=0)
accuracy = {"zoo model as is": float(np.mean(logits.argmax(-1) == y_test))}
print(f"zoo model on the new digits: {100 * accuracy['zoo model as is']:.2f} %")

# %% [markdown]
# ## 2. A new head on the frozen backbone
#
# With the backbone frozen, its output never changes during training: compute the spike features
# once (`include_top=False` gives the backbone, spikes `[B, T, C]`) and train a new classifier on
# their firing rates. That is what `zoo.load(NAME, num_classes=10, freeze_backbone=True)` trains
# too, but without running the backbone again at every step.

# %%
rates_train = both.predict(x_train, verbose=0)[1].mean(axis=1)
rates_test = spikes_test.mean(axis=1)
print("spike features", backbone.output_shape, "-> firing rates", rates_train.shape)

keras.utils.set_random_seed(0)
head = keras.Sequential([keras.Input(rates_train.shape[1:]), keras.layers.Dense(10)])
head.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
             metrics=["accuracy"])
head.fit(rates_train, y_train, epochs=100, batch_size=50, verbose=0)
accuracy["new head, frozen backbone"] = head.evaluate(rates_test, y_test, verbose=0, return_dict=True)["accuracy"]
print(f"new head on the frozen backbone: {100 * accuracy['new head, frozen backbone']:.2f} %")

# %% [markdown]
# ## 3. The whole network, against training from scratch
#
# Fine-tuning every weight, with a smaller learning rate so that the pretrained features are
# adjusted rather than overwritten; the baseline is the same architecture with `weights=False`,
# trained for as many epochs. Both train as plain SNNs here (`trt=None`: half the compute of a TRT
# step, which keeps this page fast); `zoo.load` compiles with TRT by default, and
# `compile(..., trt=keras_trt.TRTConfig())` fine-tunes with it.

# %%
EPOCHS = 3


def fit(model, label, lr):
    keras.utils.set_random_seed(0)
    model.compile(keras.optimizers.Adam(lr), metrics=["accuracy"], trt=None)
    log = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=50, verbose=0).history
    accuracy[label] = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    print(f"{label:<22} train loss {log['loss'][0]:.2f} -> {log['loss'][-1]:.2f} | test {100 * accuracy[label]:.2f} %")


fit(zoo.load(NAME), "whole network", 5e-4)
fit(zoo.load(NAME, weights=False), "from scratch", 1e-2)

# %%
fig, ax = plt.subplots(figsize=(7, 2.8))
labels = list(accuracy)
ax.barh(labels, [100 * accuracy[k] for k in labels], color=["gray", "tab:blue", "tab:green", "tab:red"])
for i, k in enumerate(labels):
    ax.text(100 * accuracy[k] + 1, i, f"{100 * accuracy[k]:.1f} %", va="center")
ax.set(xlim=(0, 110), xlabel=f"held-out accuracy on 359 new digits (%), {EPOCHS} epochs on 300 images")
ax.invert_yaxis()
plt.show()

# %% [markdown]
# What to take from it: the backbone learned on MNIST carries over to digits it has never seen;
# with 300 labelled images and a few epochs, starting from the zoo model is far ahead of starting
# from random weights. One seed and one split: for a claim, repeat over seeds as in
# [TRT against the plain SNN, the honest way](trt_vs_plain.md).
#
# Other tools for your own data:
#
# - `zoo.load(NAME, num_classes=k, freeze_backbone=True)` gives a model with a new head and a
#   frozen backbone, compiled for fine-tuning; `zoo.load(NAME, include_top=False)` the backbone
#   alone; `keras_trt.models.replace_head(model, k)` and `freeze_backbone(model)` work on any model;
# - `zoo.save_preset(model, "out/my-snn", dataset=..., timesteps=2, metrics=...)` writes your
#   model as a preset folder that `zoo.load("out/my-snn")` (or the Hub, after
#   `python -m training.publish`) loads.
