# %% [markdown]
# # Streaming: classify motion recordings as they arrive
#
# A keras-trt model normally takes a whole sequence `[B, T, ...]` at once. A body sensor, a
# microphone or an event camera delivers its data as it happens, and a neuromorphic chip runs a
# network one step at a time. `keras_trt.streaming.Stream` runs any keras-trt model on a few
# new steps per call and carries every neuron's membrane and every running readout to the
# next call, so a decision can be made (and stopped early) while the recording goes on.
#
# Here: the zoo's `smlp-basicmotions-t20` (a spiking MLP trained with TRT on BasicMotions,
# 6 accelerometer/gyroscope channels, 20 steps, 4 classes: standing, walking, running,
# badminton) streams the held-out recordings in chunks of 3 steps.

# %%
import time

import keras
import numpy as np

import keras_trt
from keras_trt import anytime, streaming
from keras_trt.data import bin_time, load_basic_motions

model = keras_trt.zoo.load("smlp-basicmotions-t20")
_, (x_test, y_test), names = load_basic_motions()
x_test = bin_time(x_test, 20)  # the 100 samples of each recording in 20 steps, as in training
print(f"{len(x_test)} held-out recordings of shape {x_test.shape[1:]} (steps, channels); classes {names}")

# %% [markdown]
# ## A stream of four recordings, three steps at a time
#
# `Stream(model, batch_size=4)` holds the state of four streams (one per row) in
# non-trainable variables, as Keras RNNs do with `stateful=True`. Each call takes the next
# `k` steps of every stream, `[4, k, 6]`, and returns the model's output after each of them,
# `[4, k, 4]`: the classifier applied to the firing rate so far. A stream decides once its
# softmax confidence reaches 0.9.

# %%
stream = streaming.Stream(model, batch_size=4)
rows = np.array([0, 12, 25, 37])  # one recording of each class
live = x_test[rows]
threshold = 0.9
decided = {}
for start in range(0, 20, 3):
    chunk = live[:, start:start + 3]  # the 3 new steps (2 at the end)
    outputs = np.asarray(stream(chunk))  # [4, k, 4]
    first = anytime.first_confident_step(outputs, threshold)
    for row in range(4):
        if row not in decided and first[row] >= 0:
            step = start + first[row] + 1
            label = names[outputs[row, first[row]].argmax()]
            decided[row] = step
            print(f"stream {row}: '{label}' at step {step} (true: '{names[y_test[rows[row]]]}')")
for row in range(4):
    if row not in decided:
        print(f"stream {row}: no confident decision in 20 steps; after all: '{names[outputs[row, -1].argmax()]}'")

# %% [markdown]
# After the 20 steps the stream's output is exactly what `predict` gives on the whole
# recordings (the same layers and weights; only the order of work differs):

# %%
whole = model.predict(live, verbose=0)
print("largest difference to predict:", float(np.abs(outputs[:, -1] - whole).max()))
print("steps seen per stream:", stream.steps_seen)

# %% [markdown]
# ## One slot starts a new recording
#
# `reset_state(rows=[1])` starts stream 1 afresh (membranes at rest, readout emptied) while
# the others go on; a stream may also run past the model's 20 steps (the firing rate keeps
# averaging).

# %%
stream.reset_state(rows=[1])
newcomer = x_test[[3]]  # another recording for slot 1
chunk = live[:, :2].copy()  # slots 0, 2, 3 replay their first steps, as steps 21 and 22
chunk[1] = newcomer[0, :2]
out = np.asarray(stream(chunk))
print("steps seen:", stream.steps_seen)
fresh = streaming.Stream(model, batch_size=1)
print("slot 1 equals a fresh stream:", bool(np.allclose(out[1], np.asarray(fresh(newcomer[:, :2]))[0], atol=1e-6)))

# %% [markdown]
# ## How early can it decide? Accuracy against the steps used
#
# `anytime.anytime_report` streams a whole data set and gives the accuracy of the running
# prediction after every step, and, for each confidence threshold, the accuracy of early exit
# and the mean number of steps it used. (`python -m training.analyze smlp-basicmotions-t20
# basic_motions --anytime` writes the same table and plot for any preset and data set.)

# %%
report = anytime.anytime_report(model, x_test, y_test, thresholds=(0.5, 0.7, 0.9, 0.95, 0.99),
                                 title="smlp-basicmotions-t20, BasicMotions held-out")
print(report.to_markdown())
figure = report.plot()

# %% [markdown]
# ## The pure form, and the cost of a step
#
# `outputs, state = stream.step(state, chunk)` is the same computation with the state as
# explicit tensors (a dict), nothing stored: the form for `jax.jit` / `jax.lax.scan` and for
# export (`streaming.export_step_onnx` writes the one-step model with the state as ONNX inputs
# and outputs). A single live stream, one step per call:

# %%
pure = streaming.Stream(model)
state = pure.initial_state(1)
out, state = pure.step(state, x_test[:1, :1])  # the first call compiles on JAX and TensorFlow
start = time.perf_counter()
for t in range(1, 20):
    out, state = pure.step(state, x_test[:1, t:t + 1])
per_step = (time.perf_counter() - start) / 19
print(f"{keras.backend.backend()}: {1e3 * per_step:.2f} ms per step at batch 1; "
      f"state entries: {sorted(state)}")
