# %% [markdown]
# # Spiking transformers: Spikformer, Spike-driven Transformer, QKFormer
#
# keras-trt builds the three spiking transformers of SpikingJelly 2.0's `model` package with the
# same layer order, thresholds and names, so their checkpoints load and their logits agree:
#
# - `keras_trt.models.spikformer(...)` (and `spikformer_ti`, `spikformer_s`, `spikformer_cifar10`,
#   `spikformer_8_384`, `spikformer_8_768`): spiking patch splitting, spiking self-attention
#   `scale * Q K^T V` without softmax (scale 0.125, attention neuron threshold 0.5), spiking MLP;
# - `keras_trt.models.spike_driven_transformer(...)` (`sdt_8_384`, ...): spike-driven
#   self-attention (a mask of Q by the spikes of `sum K * V`) and membrane shortcuts;
# - `keras_trt.models.qkformer(...)` (`qkformer_10_384`, ...): Q-K token attention in two
#   hierarchical stages, self-attention in the third.
#
# This page builds a tiny Spikformer, checks it against SpikingJelly on shared weights, trains it
# a few steps with TRT, and counts what the zoo's MNIST Spikformer costs per image.

# %%
import keras_trt

import time

import keras
import numpy as np
import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based.model import spikformer as sj_spikformer

from keras_trt import analysis, zoo
from keras_trt.data import load_mnist5k
from keras_trt.export import load_torch_transformer

# %% [markdown]
# ## The same network as SpikingJelly's
#
# SpikingJelly's `Spikformer` class with a small width; random weights and BatchNorm statistics
# (so that they matter); `load_torch_transformer` copies them into ours. SpikingJelly is
# time-major and returns the per-step logits; ours are their average over T.

# %%
torch.manual_seed(0)
net = sj_spikformer.Spikformer(T=2, img_size_h=16, img_size_w=16, patch_size=4, num_classes=10,
                               embed_dims=32, num_heads=2, depths=1)
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            m.weight.normal_(0.0, 1.5 / m.weight[0].numel() ** 0.5)
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.weight.uniform_(0.5, 1.5), m.bias.uniform_(0.2, 1.2)
            m.running_mean.normal_(0.0, 0.1), m.running_var.uniform_(0.2, 0.6)
model = keras_trt.models.spikformer(embed_dims=32, num_heads=2, depths=1, patch_size=4,
                                    input_shape=(16, 16, 3), num_classes=10, timesteps=2)
print(load_torch_transformer(model, net.state_dict()))

x = torch.randn(4, 3, 16, 16)
for training in (False, True):
    net.train(training)
    functional.reset_net(net)
    with torch.no_grad():
        theirs = net(x).mean(0).numpy()
    ours = keras.ops.convert_to_numpy(model(x.permute(0, 2, 3, 1).numpy(), training=training))
    mode = "training mode (batch statistics)" if training else "inference"
    print(f"{mode:<34} max |ours - SpikingJelly| = {np.abs(ours - theirs).max():.2e}")

# %% [markdown]
# The attention is an ordinary Keras layer (`keras_trt.layers.SelfAttentionProduct`) applied to
# each time step; every layer but the LIF neurons is per step, so all time mixing happens in the
# neurons, as in every other keras-trt family.

# %%
for layer in model.layers:
    if layer.name.startswith("blocks_0_attn"):
        inner = getattr(layer, "layer", layer)
        print(f"{layer.name:<32} {type(inner).__name__:<22} {layer.output.shape}")

# %% [markdown]
# ## A few TRT steps on MNIST
#
# TRT needs nothing specific to transformers: the reversal goes after the patch stem (the
# spike features of the 7x7 = 49 tokens of a 28x28 digit at patch 4) and the star product acts on
# the pooled token rates before the classifier. A Spikformer-1-32, four passes over 256 digits
# (8 steps of 32 each): the four loss terms of TRT fall together.

# %%
(x_train, y_train), (x_test, y_test) = load_mnist5k()
keras.utils.set_random_seed(0)
tiny = keras_trt.models.spikformer(embed_dims=32, num_heads=2, depths=1, patch_size=4,
                                   input_shape=(28, 28, 1), num_classes=10, timesteps=2)
tiny.compile(keras.optimizers.Adam(3e-3), trt=keras_trt.TRTConfig())
start = time.time()
history = tiny.fit(x_train[:256], y_train[:256], batch_size=32, epochs=4, verbose=0).history
print(f"32 TRT steps in {time.time() - start:.0f} s (the first compiles the step)")
for key in ("task_loss", "reversed_loss", "consistency_loss", "star_loss"):
    print(f"  {key:<17}" + "".join(f"{v:8.3f}" for v in history[key]))

# %% [markdown]
# ## What the zoo's MNIST Spikformer costs per image
#
# `spikformer-mnist-t2` (Spikformer-2-64, patch 4, T=2, trained here with TRT) next to the zoo's
# spiking ResNet-20 on the same digits. `keras_trt.analysis.profile` counts a synapse fed by
# spikes as SOPs and one fed by real values as MACs; in the attention, **a product of two spikes
# is an AND that costs one accumulate when both are 1, and a product of a spike and a real value
# one accumulate when the spike is 1** — no multiply-accumulate
# (see [the counting rules](../explanation/attention-operations.md)).

# %%
images = x_test[:32]
for name in ("spikformer-mnist-t2", "sresnet20-mnist-t2"):
    preset = zoo.load(name)
    preset.jit_compile = False
    report = analysis.profile(preset, images)
    t = report.totals
    accuracy = np.mean(preset.predict(x_test, batch_size=250, verbose=0).argmax(-1) == y_test)
    print(f"{name:<20} accuracy {accuracy:.3f}  firing rate {t['firing_rate']:.3f}  "
          f"MACs {t['macs'] / 1e6:.2f} M  SOPs {t['sops'] / 1e6:.2f} M  ACs {t['acs'] / 1e6:.3f} M  "
          f"energy {t['energy_pj'] / 1e6:.2f} uJ")
    if name.startswith("spikformer"):
        attention = [r for r in report.layers if r["name"].endswith("attn_product")]
        print("  attention products:", ", ".join(f"{r['name']} {r['acs'] / 1e3:.1f} k ACs" for r in attention))
        stream = sum(r["macs"] for r in report.layers if r["name"].endswith(("qkv_conv_bn_0", "mlp_fc1_0")))
        print(f"  MACs of the Dense layers that read the residual stream: {stream / 1e6:.2f} M")

# %% [markdown]
# The attention itself is cheap (thousands of ACs per image against millions of SOPs). What costs
# the Spikformer its energy here are the MACs: its residual stream is a *sum* of spike maps
# (0, 1, 2, ...), not spikes, so the first Dense of each block counts as multiply-accumulates —
# SpikingJelly's counters apply the same rule (spikes means every value is 0 or 1). The
# Spike-driven Transformer's membrane shortcuts exist to avoid exactly this: every one of its
# Dense layers reads spikes.
