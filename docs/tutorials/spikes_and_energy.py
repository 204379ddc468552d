# %% [markdown]
# # Analysing spikes, operations and energy
#
# What does a trained SNN actually do at inference? Two zoo models, both shipped in the package:
# the spiking MLP `smlp-basicmotions-t20` (20 time steps of accelerometer and gyroscope data) shows
# its spikes over time; the spiking ResNet `sresnet20-mnist-t2` shows where the operations and the
# energy go. The counting rules are on the [inference cost](../explanation/inference-cost.md) page.

# %%
import keras_trt

import matplotlib.pyplot as plt
import numpy as np

from keras_trt import analysis, zoo
from keras_trt.data import bin_time, load_basic_motions, load_mnist5k

(_, _), (x_motion, y_motion), motion_names = load_basic_motions()
x_motion = bin_time(x_motion, 20)  # 100 samples per recording -> the model's 20 steps
mlp = zoo.load("smlp-basicmotions-t20")
print("BasicMotions test recordings:", x_motion.shape, "classes:", motion_names)

# %% [markdown]
# ## Spikes over time
#
# `analysis.spike_probe(model)` returns a model whose outputs are the spikes `[B, T, units]` of
# every spiking layer. One recording of each class, the first 32 neurons of each layer:

# %%
probe = analysis.spike_probe(mlp)
first = [int(np.flatnonzero(y_motion == c)[0]) for c in range(len(motion_names))]
spikes = {name: np.asarray(s) for name, s in probe.predict(x_motion[first], verbose=0).items()}
fig, axes = plt.subplots(len(spikes), len(first), figsize=(11, 4.2), sharex=True, sharey=True)
for row, (layer, s) in enumerate(spikes.items()):
    for col, i in enumerate(range(len(first))):
        t, n = np.nonzero(s[i, :, :32])
        axes[row, col].scatter(t, n, s=4, marker="|", color="black")
        axes[0, col].set_title(motion_names[col])
    axes[row, 0].set_ylabel(f"{layer}\nneuron")
for ax in axes[-1]:
    ax.set_xlabel("time step")
fig.tight_layout()
plt.show()

rates = analysis.firing_rates(mlp, x_motion)
print("firing rate per layer (all 40 recordings):", {k: round(v, 3) for k, v in rates.items()})

# %% [markdown]
# Standing still makes few spikes; running and badminton drive the first layer hard. The
# classifier reads the time-averaged spikes of the last layer.
#
# ## Operations and energy
#
# `analysis.profile(model, x)` runs the inference pass and counts, per sample and summed over the
# T steps: multiply-accumulates (MACs) where a layer is fed real values (the first convolution on
# pixels, the classifier on firing rates), synaptic operations (SOPs: one accumulate per spike per
# weight it reaches) where it is fed spikes, and accumulates (ACs) for pooling and residual adds.
# Energy: 4.6 pJ per MAC, 0.9 pJ per SOP or AC (45 nm CMOS, Horowitz 2014).

# %%
(_, _), (x_digits, y_digits) = load_mnist5k()  # the held-out split the ResNet was not trained on
resnet = zoo.load("sresnet20-mnist-t2")
report = analysis.profile(resnet, x_digits[:100])
print("\n".join(report.to_markdown().splitlines()[:8]), "...", sep="\n")  # the full table has a row per layer

# The same rows summed by stage (the name's prefix: conv1 = stem, layer1..3, classifier).
stages = {}
for row in report.layers:
    stage = row["name"].split("_")[0] if row["name"].startswith("layer") else row["name"]
    if row["energy_pj"]:
        s = stages.setdefault(stage, {"macs": 0, "sops": 0, "acs": 0, "energy_pj": 0})
        for key in s:
            s[key] += row[key]
print(f"\n{'stage':<12}{'MACs':>12}{'SOPs':>14}{'ACs':>10}{'energy (nJ)':>14}")
for stage, s in stages.items():
    print(f"{stage:<12}{s['macs']:>12,.0f}{s['sops']:>14,.0f}{s['acs']:>10,.0f}{s['energy_pj'] / 1e3:>14.1f}")

# %%
rows = [r for r in report.layers if r["energy_pj"]]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.bar(range(len(rows)), [r["energy_pj"] / 1e3 for r in rows],
        color=["tab:red" if r["macs"] else "tab:blue" for r in rows])
ax1.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=90, fontsize=7)
ax1.set(ylabel="energy per sample (nJ)", title="energy per layer (red: MACs on real values, blue: spikes)")
neurons = [r for r in report.layers if r["firing_rate"] is not None]
ax2.plot([r["firing_rate"] for r in neurons], "o-")
ax2.set_xticks(range(len(neurons)), [r["name"] for r in neurons], rotation=90, fontsize=7)
ax2.set(ylabel="firing rate (spikes per neuron and step)", title="how often each spiking layer fires")
fig.tight_layout()
plt.show()

# %% [markdown]
# What the same network would cost as a non-spiking one: every synaptic layer's dense
# multiply-accumulate count (`analysis.dense_macs`) at 4.6 pJ each, once per time step the layer
# runs, against what the spikes cost.

# %%
dense = sum(analysis.dense_macs(layer) for layer in resnet.layers)
total = report.totals
T = total["timesteps"]
print(f"spiking: {total['energy_pj'] / 1e6:.2f} µJ per image ({total['macs']:,.0f} MACs, "
      f"{total['sops']:,.0f} SOPs, {total['acs']:,.0f} ACs; firing rate {total['firing_rate']:.3f})")
for label, macs in ((f"the same layers dense at each of the T={T} steps", dense),
                    ("a non-spiking network of the same shape (one pass)", dense / T)):
    energy = macs * analysis.ENERGY_PJ_PER_MAC
    print(f"{label}: {macs:,.0f} MACs -> {energy / 1e6:.2f} µJ, {energy / total['energy_pj']:.1f}x the spiking estimate")
accuracy = np.mean(resnet.predict(x_digits[:100], verbose=0).argmax(-1) == y_digits[:100])
print(f"accuracy on these 100 images: {100 * accuracy:.0f} %")

# %% [markdown]
# These are estimates by the usual rules of SNN papers, not measurements on hardware: membrane
# updates, memory traffic and the cost of moving spikes are not counted. During training,
# `analysis.FiringRateLogger(x_val)` logs `firing_rate/<layer>` after every epoch; from the
# command line, `python -m training.analyze sresnet20-mnist-t2 mnist` writes the same report and
# plots for a zoo model.
