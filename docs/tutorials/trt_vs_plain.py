# %% [markdown]
# # TRT against the plain SNN, the honest way
#
# "TRT gets +1 point" means little from one run: two trainings of the same network differ by
# about as much from the seed alone. And a TRT step runs most of the network twice (the original
# and the reversed sequence), so "at equal epochs" gives TRT more compute than the plain SNN.
# The comparison this project makes (`python -m training.compare`, whose pages are in the
# [results](../results/index.md)) therefore
#
# - **pairs seeds**: for every seed, each arm starts from the same initial weights and sees the
#   same batches, so the seed's luck cancels in the difference;
# - compares with the plain SNN trained for **as many epochs** and for **as many training FLOPs**;
# - reports the mean paired difference with a 95 % t interval and the paired t-test's p-value.
#
# Here it is in small: the quickstart's spiking CNN on scikit-learn's digits, 4 seeds, a short
# schedule.

# %%
import keras_trt

import keras
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from keras_trt.analysis import dense_macs
from keras_trt.data import load_digits
from keras_trt.models import spiking_cnn

(x_train, y_train), (x_test, y_test) = load_digits()
SEEDS, EPOCHS, T, BATCH = (0, 1, 2, 3), 4, 4, 128

# %% [markdown]
# ## What a TRT step costs
#
# The reversal sits after the stem (the first conv-BN-LIF block): the stem runs once, everything
# after it runs on the doubled batch `[x; x_reversed]`. Counting the multiply-accumulates of every
# convolution and Dense layer (forward; the backward pass scales the same way) gives the ratio of
# TRT's training compute to the plain SNN's, and so the epochs that give the plain SNN the same
# compute.

# %%
model = spiking_cnn((8, 8, 1), 10, timesteps=T)
macs = [(layer.name, dense_macs(layer)) for layer in model.layers if dense_macs(layer)]
stem = macs[0][1]
total = sum(m for _, m in macs)
ratio = (stem + 2 * (total - stem)) / total
matched_epochs = round(EPOCHS * ratio)
print("MACs per sample:", ", ".join(f"{n} {m:,}" for n, m in macs))
print(f"TRT step / plain step: {ratio:.3f} -> the plain SNN gets {matched_epochs} epochs for TRT's {EPOCHS}")

# %% [markdown]
# ## Three arms, paired by seed
#
# For each seed, one set of initial weights (`set_random_seed(seed)` then build) is copied into
# every arm's model, the optimizer's state is reset, and the batches are shuffled from the same
# seed. Each arm keeps one compiled model across the seeds, so the page does not pay for a
# compilation per run (`training.compare` builds every run afresh; the result is the same).

# %%
def compiled(trt):
    model = spiking_cnn((8, 8, 1), 10, timesteps=T)
    model.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"], trt=keras_trt.TRTConfig() if trt else None)
    return model


def run(model, initial, seed, epochs):
    model.set_weights(initial)
    for variable in model.optimizer.variables:  # a fresh Adam: step 0, no moments
        if not variable.path.endswith("learning_rate"):
            variable.assign(np.zeros(variable.shape, variable.dtype))
    keras.utils.set_random_seed(seed)  # the same batch order in every arm of a seed
    model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH, verbose=0)
    return 100 * model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]


models = {"TRT": compiled(True), "plain": compiled(False)}
arms = {"TRT": ("TRT", EPOCHS), "plain, equal epochs": ("plain", EPOCHS),
        f"plain, equal FLOPs ({matched_epochs} epochs)": ("plain", matched_epochs)}
acc = {name: [] for name in arms}
for seed in SEEDS:
    keras.utils.set_random_seed(seed)
    initial = spiking_cnn((8, 8, 1), 10, timesteps=T).get_weights()  # this seed's initial weights
    for name, (model_key, epochs) in arms.items():
        acc[name].append(run(models[model_key], initial, seed, epochs))
    print(f"seed {seed}: " + " | ".join(f"{name} {acc[name][-1]:.2f}" for name in arms))
acc = {k: np.array(v) for k, v in acc.items()}

# %% [markdown]
# ## The paired differences

# %%
trt = acc["TRT"]
rows = []
for name in list(arms)[1:]:
    d = trt - acc[name]
    test = stats.ttest_rel(trt, acc[name])
    ci = test.confidence_interval(0.95)
    rows.append((name, d, ci))
    print(f"TRT − {name}: {d.mean():+.2f} points (95 % interval {ci.low:+.2f} to {ci.high:+.2f}), "
          f"p = {test.pvalue:.3f}, TRT ahead on {(d > 0).sum()} of {len(d)} seeds")
for name, values in acc.items():
    print(f"{name:<32} {values.mean():.2f} ± {values.std(ddof=1):.2f} %")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
names = list(arms)
for i, seed in enumerate(SEEDS):
    ax1.plot(range(len(names)), [acc[n][i] for n in names], "o-", alpha=0.7, label=f"seed {seed}")
ax1.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names])
ax1.set(ylabel="held-out accuracy (%)", title="each seed's arms (lines join a seed)")
ax1.legend(fontsize=8)
for j, (name, d, ci) in enumerate(rows):
    ax2.errorbar(d.mean(), j, xerr=[[d.mean() - ci.low], [ci.high - d.mean()]], fmt="o", capsize=4)
    ax2.plot(d, [j] * len(d), "x", color="gray")
ax2.axvline(0, color="black", lw=0.8)
ax2.set_yticks(range(len(rows)), [f"TRT − {n}" for n, _, _ in rows])
ax2.set(xlabel="paired difference (points), 95 % interval", title="what the seeds establish")
fig.tight_layout()
plt.show()

# %% [markdown]
# How to read it: an interval that contains 0 establishes nothing either way, whatever the sign
# of the mean; a handful of seeds only shows large or very steady effects. On the four recipes
# trained here with 5 seeds and full schedules ([results](../results/index.md)), TRT is ahead at
# equal epochs on two of them, and the plain SNN given TRT's compute matches or beats it on all
# four: on small tasks TRT's extra compute does not buy accuracy, while its models are more
# robust to a dropped time step. `python -m training.compare <recipe> --seeds 5` runs this
# protocol on a recipe (with the robustness probes, learning curves and a page of results).
