# %% [markdown]
# # Cheaper TRT: a reversed branch for a quarter of the batch
#
# A full TRT step runs everything after the reversal point on the doubled batch
# `[x; x_reversed]`: about twice a plain step. `TRTConfig(batch_fraction=0.25)` gives only the
# first quarter of each (shuffled) batch a reversed copy, `[x; reverse(x[:m])]` with
# `m = ceil(B / 4)`; the reversed, consistency and star terms are means over those `m` pairs.
# Other cheap variants (a later reversal point, TRT in some epochs or on every k-th batch) are
# described in [cheap TRT](../explanation/cheap-trt.md).
#
# Here: the quickstart's spiking CNN on scikit-learn's digits, full TRT against the quarter-batch
# variant and against the plain SNN given the variant's training FLOPs, paired by seed, with the
# robustness probes that TRT is meant to improve.

# %%
import time

import keras
import numpy as np

import keras_trt
from keras_trt.analysis import training_flops
from keras_trt.data import load_digits
from keras_trt.models import spiking_cnn
from training.probes import robustness

(x_train, y_train), (x_test, y_test) = load_digits()
SEEDS, EPOCHS, T, BATCH = (0, 1), 6, 4, 64
FULL, QUARTER = keras_trt.TRTConfig(), keras_trt.TRTConfig(batch_fraction=0.25)

# %% [markdown]
# ## What each step costs, counted
#
# `keras_trt.analysis.training_flops` counts the forward and backward multiply-adds of every
# convolution and Dense layer, each run on the samples it sees: `B` before the reversal, `B + m`
# after it and `B + 2m` for the classifier (original, reversed and star features).

# %%
model = spiking_cnn((8, 8, 1), 10, timesteps=T)
plain_flops = training_flops(model, None)
ratio = {name: training_flops(model, cfg) / plain_flops for name, cfg in (("full TRT", FULL), ("TRT, 1/4 batch", QUARTER))}
matched = round(EPOCHS * ratio["TRT, 1/4 batch"])
for name, r in ratio.items():
    print(f"{name}: {r:.3f} x a plain step")
print(f"plain SNN at the quarter variant's FLOPs: {matched} epochs for its {EPOCHS}")

# %% [markdown]
# ## Three arms, paired by seed
#
# Every arm of a seed starts from the same weights and sees the same batches. The seconds are
# the median training step after the first epoch (which includes compiling).

# %%
class StepTime(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.params and getattr(self, "epoch", 0) > 0:
            self.seconds.append(time.perf_counter() - self.start)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_begin(self, logs=None):
        self.seconds = []


def run(seed, trt, epochs):
    keras.utils.set_random_seed(seed)
    model = spiking_cnn((8, 8, 1), 10, timesteps=T)
    model.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"], trt=trt)
    timer = StepTime()
    model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=[timer])
    probe = robustness(model, x_test, y_test)
    return dict(accuracy=100 * probe["accuracy"], agreement=100 * probe["agreement"],
                dropped=100 * probe["dropped"], step_ms=1000 * np.median(timer.seconds))


arms = {"full TRT": (FULL, EPOCHS), "TRT, 1/4 batch": (QUARTER, EPOCHS),
        f"plain, 1/4 variant's FLOPs ({matched} ep.)": (None, matched)}
results = {name: [run(seed, *arm) for seed in SEEDS] for name, arm in arms.items()}

# %%
print(f"{'arm':<36} {'accuracy %':>11} {'agreement %':>12} {'1 step dropped %':>17} {'ms / step':>10}")
for name, rs in results.items():
    cells = [np.mean([r[k] for r in rs]) for k in ("accuracy", "agreement", "dropped", "step_ms")]
    print(f"{name:<36} {cells[0]:>11.2f} {cells[1]:>12.1f} {cells[2]:>17.1f} {cells[3]:>10.1f}")
quarter = np.array([r["accuracy"] for r in results["TRT, 1/4 batch"]])
for name in (list(arms)[2], "full TRT"):
    d = quarter - np.array([r["accuracy"] for r in results[name]])
    print(f"TRT 1/4 batch − {name}: {d.mean():+.2f} points (per seed {', '.join(f'{v:+.1f}' for v in d)})")

# %% [markdown]
# How to read it: the FLOP ratios are exact; the step times are this machine's at the time (on a
# loaded machine they say little, and on a network this small per-op overhead and memory traffic
# weigh as much as the multiply-adds). Two seeds and six epochs establish no accuracy or
# robustness difference of a point or less: this shows the mechanism and its cost, not a result.
# `python -m training.compare <recipe> --seeds 5 --cheap` runs the variants on a recipe with
# paired statistics, the probes and the plain SNN at each variant's FLOPs. Run that way on the
# PointNet (5 seeds), the quarter of the batch lost 2.7 points against the plain SNN at its
# FLOPs, while the reversal after stage 2 (only the head sees the reversed branch, 1.04x FLOPs)
# matched full TRT's accuracy and beat that plain SNN by 1.1 points: it is the recipe's default,
# which a recipe names in its `cheap` field and `python -m training.train <recipe>` trains. On
# the ResNet-20 (5 seeds) the quarter of the batch lost 1.1 points the same way and none of the
# five variants beat the plain SNN at its FLOPs, so that recipe keeps full TRT
# ([the comparisons](../results/index.md#cheaper-trt-does-a-variant-pay-for-its-compute)).
