# %% [markdown]
# # Exporting to NIR and ONNX
#
# A TRT-trained model is a plain SNN at inference, so what leaves keras-trt is the plain SNN:
#
# - **NIR** (the Neuromorphic Intermediate Representation) describes the network one time step at
#   a time, with its neurons as dynamical systems: SpikingJelly, snnTorch, Norse, Lava and
#   neuromorphic chips read it. `keras_trt.export.to_nir(model)` writes one;
# - **ONNX** is the plain-tensor program: `model.export(path, format="onnx")` on any backend
#   (TensorFlow through tf2onnx, JAX through jax2onnx, torch through `torch.onnx`), run by
#   onnxruntime on a machine without Keras.
#
# Both are checked here against `model.predict` on the zoo's `smlp-basicmotions-t20`, with
# SpikingJelly running the NIR graph. Needs `pip install "keras-trt[export]"` (and SpikingJelly).

# %%
import keras_trt

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nir
import numpy as np

from keras_trt import zoo
from keras_trt.data import bin_time, load_basic_motions
from keras_trt.export import to_nir

(_, _), (x_test, y_test), names = load_basic_motions()
x_test = bin_time(x_test, 20)
model = zoo.load("smlp-basicmotions-t20")
logits = model.predict(x_test, verbose=0)
print(f"keras-trt: {x_test.shape} -> {logits.shape}, accuracy {100 * np.mean(logits.argmax(-1) == y_test):.1f} %")
out_dir = Path(tempfile.mkdtemp())

# %% [markdown]
# ## NIR
#
# The graph holds one node per layer: affine maps for the Dense layers (BatchNormalization folded
# in), `LIF` nodes with NIR's continuous-time parameters (`tau_nir = tau * dt`; import with the
# same `dt`), and the classifier's per-step output, which is averaged over the T steps to give the
# model's logits.

# %%
graph = to_nir(model, dt=1e-4)
for name, node in graph.nodes.items():
    shape = getattr(node, "weight", getattr(node, "tau", None))
    print(f"{name:<12} {type(node).__name__:<10} {'' if shape is None else np.shape(shape)}")
print("edges:", graph.edges)
nir.write(out_dir / "model.nir", graph)
print(f"written: model.nir ({(out_dir / 'model.nir').stat().st_size:,} bytes)")

# %% [markdown]
# SpikingJelly's importer builds a PyTorch module from the file; it runs one step per call with an
# explicit state, so we feed the 20 steps in turn and average the outputs.

# %%
import torch
from spikingjelly.activation_based.nir_exchange import import_from_nir

module = import_from_nir(nir.read(out_dir / "model.nir"), dt=1e-4)
state, steps = None, []
with torch.no_grad():
    for t in range(x_test.shape[1]):
        out, state = module(torch.tensor(np.ascontiguousarray(x_test[:, t])), state)
        steps.append(out.numpy())
sj_logits = np.mean(steps, axis=0)
print(f"SpikingJelly from NIR: max |logit difference| {np.abs(sj_logits - logits).max():.2e}, "
      f"same predictions on {np.mean(sj_logits.argmax(-1) == logits.argmax(-1)) * 100:.0f} % of the recordings")

# %% [markdown]
# ## ONNX
#
# `TRTModel.export` is Keras' exporter with the LIF layers as plain tensor operations and a free
# batch size; the file runs in onnxruntime.

# %%
import onnxruntime as ort

model.export(str(out_dir / "model.onnx"), format="onnx", verbose=False)
session = ort.InferenceSession(str(out_dir / "model.onnx"))
(onnx_logits,) = session.run(None, {session.get_inputs()[0].name: x_test})
print(f"model.onnx: {(out_dir / 'model.onnx').stat().st_size:,} bytes, inputs "
      f"{[(i.name, i.shape) for i in session.get_inputs()]}")
print(f"onnxruntime: max |logit difference| {np.abs(onnx_logits - logits).max():.2e}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.scatter(logits.ravel(), sj_logits.ravel(), s=10, label="SpikingJelly (NIR)")
ax.scatter(logits.ravel(), onnx_logits.ravel(), s=10, marker="x", label="onnxruntime (ONNX)")
ax.plot([logits.min(), logits.max()], [logits.min(), logits.max()], color="gray", lw=0.8)
ax.set(xlabel="keras-trt logit", ylabel="exported model's logit", title="160 logits (40 recordings x 4 classes)")
ax.legend()
plt.show()

# %% [markdown]
# What NIR cannot express is refused with a clear error (`NIRExportError`): soft reset, max
# pooling, SEW's `and`/`iand`, and Keras `"same"` padding that pads unevenly. NIR and most
# simulators fire on `v > threshold`, SpikingJelly and keras-trt on `v >= threshold`: identical
# except on exact ties. The supported layers and the other direction (SpikingJelly and torchvision
# ResNet checkpoints into keras-trt) are in [analysis and export](../how-to/analysis-and-export.md)
# and [importing SpikingJelly checkpoints](../how-to/spikingjelly-checkpoints.md).
