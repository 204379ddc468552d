"""Spike activity, operation counts and energy of a model's inference pass: :func:`profile`."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from keras_trt import _graph, neurons, temporal
from keras_trt.analysis import counting

_NEURONS = (neurons.LIF, neurons.ParametricLIF)


@dataclasses.dataclass
class Profile:
    """What :func:`profile` measured. All counts are per sample, summed over the T time steps.

    Attributes:
        layers: one dict per layer of the model, in order: ``name``, ``type`` (the wrapped
            layer's class for time-folded layers), ``input`` (``"spikes"``, ``"real"`` or
            ``None``), ``firing_rate`` (neurons: mean of the output spikes; else ``None``),
            ``spikes`` (neurons: spikes per sample), ``neurons`` (neurons: units per step),
            ``macs``, ``sops``, ``acs`` and ``energy_pj``.
        totals: ``macs``, ``sops``, ``acs``, ``energy_pj``, ``firing_rate`` (all neurons
            together), ``samples`` and ``timesteps``.
    """

    layers: list
    totals: dict

    def layer(self, name):
        """The row of layer ``name``."""
        for row in self.layers:
            if row["name"] == name:
                return row
        raise KeyError(f"No layer {name!r} in this profile; layers: {[r['name'] for r in self.layers]}.")

    def to_markdown(self, all_layers=False):
        """A Markdown table: the neurons and the layers that cost something, then the totals.

        ``all_layers=True`` lists the free layers (BN, padding, reshapes) too.
        """
        lines = [
            "| layer | type | input | firing rate | MACs | SOPs | ACs | energy (nJ) |",
            "|---|---|---|---:|---:|---:|---:|---:|",
        ]
        for row in self.layers:
            costly = row["macs"] or row["sops"] or row["acs"] or row["firing_rate"] is not None
            if not (all_layers or costly):
                continue
            rate = "" if row["firing_rate"] is None else f"{row['firing_rate']:.4f}"
            lines.append(
                f"| {row['name']} | {row['type']} | {row['input'] or ''} | {rate} | "
                f"{_fmt(row['macs'])} | {_fmt(row['sops'])} | {_fmt(row['acs'])} | "
                f"{row['energy_pj'] / 1e3:.3f} |"
            )
        t = self.totals
        lines.append(
            f"| **total** | | | {t['firing_rate']:.4f} | {_fmt(t['macs'])} | {_fmt(t['sops'])} | "
            f"{_fmt(t['acs'])} | {t['energy_pj'] / 1e3:.3f} |"
        )
        lines.append("")
        lines.append(
            f"Per sample, summed over T={t['timesteps']} steps, mean of {t['samples']} samples. "
            f"Energy: {counting.ENERGY_PJ_PER_MAC} pJ/MAC, {counting.ENERGY_PJ_PER_AC} pJ per "
            "SOP or AC (45 nm, Horowitz 2014)."
        )
        return "\n".join(lines)

    def plot(self, path):
        """Writes a PNG of the firing rate per spiking layer (and energy per layer) to ``path``."""
        from keras_trt.analysis import plots

        return plots.plot_profile(self, path)


def _fmt(value):
    value = float(value)
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def profile(model, x, batch_size=32):
    """Runs the inference pass of ``model`` on ``x`` and counts spikes, operations and energy.

    Returns a :class:`Profile`: ``.layers`` (per layer ``name``, ``firing_rate``, ``macs``,
    ``sops``, ``acs``, ``energy_pj``...), ``.totals``, ``.to_markdown()`` and ``.plot(path)``.
    Every count is **per sample, summed over the T time steps** (mean over the samples of ``x``).

    Counting rules (those of SNN papers; details in :mod:`keras_trt.analysis.counting`):

    - **SOPs**: a Dense or convolution fed by spikes (every input value 0 or 1, as SpikingJelly
      tests) costs one accumulate per non-zero input per weight it touches: Dense ``units`` per
      spike; convolution exact and border-aware (``same``/``valid`` padding, strides, dilation),
      the output positions whose window covers the spike times ``filters / groups``.
    - **MACs**: one fed by real values (the first layer on pixels, a classifier on firing rates)
      costs the dense count, output elements x fan-in, at every time step it runs at (once for a
      layer marked ``static_input`` by :func:`keras_trt.temporal.hoist_static_layers`, and once
      for the classifier on the time-averaged rates).
    - **ACs** (accumulates outside synapses), SpikingJelly 2.0 ``op_counter.ACCounter``'s rules:
      average pooling ``out.numel() * (k - 1)`` for a window of ``k``; a mean (global average
      pooling, the firing rate over T before the classifier) ``in.numel() - out.numel()``;
      residual ``Add``/``Subtract`` ``nnz(a) + nnz(b)`` on two spike tensors, else
      ``out.numel()``. Not counted: BatchNormalization (folded into the layer before it at
      inference), the neurons' membrane updates, max pooling, ``Multiply``, reshapes.
    - **Attention** (Spikformer, Spike-driven Transformer, QKFormer): a product of two spikes
      costs one AC when both are 1, a product of a spike and a real value one AC when the spike
      is 1, so the attention costs ACs and no MACs (``keras_trt.analysis.counting``; the
      products are counted in the order the layers compute them, e.g. ``Q (K^T V)``).
    - **Energy**: ``4.6 pJ x MACs + 0.9 pJ x (SOPs + ACs)`` (45 nm, Horowitz, ISSCC 2014).

    Args:
        model: a functional Keras model (every :mod:`keras_trt.models` builder and zoo model).
        x: inputs, a NumPy array (or what the model takes) with a leading sample axis; checked
            first by :mod:`keras_trt.trt.data_checks` (NaN/Inf, scale, shape and T, empty).
        batch_size: samples per forward pass (memory: every layer's output is held per batch).

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("spiking_cnn", input_shape=(8, 8, 1), num_classes=10, timesteps=4)
    >>> report = keras_trt.analysis.profile(model, np.random.rand(16, 8, 8, 1).astype("float32"))
    >>> int(report.layer("conv0")["macs"])       # pixels: dense, 4 steps x 8x8 x 16 x 3x3x1
    36864
    >>> sorted(report.totals)
    ['acs', 'energy_pj', 'firing_rate', 'macs', 'samples', 'sops', 'timesteps']
    """
    nodes = _graph.functional_nodes(model, "profile")
    for layer, _, _ in nodes:
        counting.check_countable(layer)
    tensors = []
    index = {}
    for _, inputs, outputs in nodes:
        for t in inputs + outputs:
            if id(t) not in index:
                index[id(t)] = len(tensors)
                tensors.append(t)
    probe = keras.Model(model.input, tensors)
    from keras_trt.trt import data_checks

    data_checks.check(model, x, entry="profile", labels=False)  # NaN, scale, shape, empty
    num = _num_samples(x)
    timesteps = _model_timesteps(model)
    rows = [_empty_row(layer) for layer, _, _ in nodes]
    for start in range(0, num, batch_size):
        batch = keras.tree.map_structure(lambda a: a[start : start + batch_size], x)
        with temporal.trt_branches(False):
            values = probe(batch, training=False)
        values = [np.asarray(keras.ops.convert_to_numpy(v)) for v in values]
        for row, (layer, inputs, outputs) in zip(rows, nodes):
            ins = [values[index[id(t)]] for t in inputs]
            outs = [values[index[id(t)]] for t in outputs]
            _count(row, layer, ins, outs)
    return _finish(rows, num, timesteps)


def _num_samples(x):
    return int(keras.tree.flatten(x)[0].shape[0])


def _model_timesteps(model):
    for layer in model.layers:
        if isinstance(layer, _NEURONS):
            return int(layer.output.shape[1])
    return 1


def _empty_row(layer):
    inner = counting.inner_layer(layer)
    return dict(
        name=layer.name, type=type(inner).__name__, input=None, firing_rate=None,
        spikes=None, neurons=None, macs=0, sops=0, acs=0, energy_pj=0.0, _binary=True,
    )


def _count(row, layer, inputs, outputs):
    inner = counting.inner_layer(layer)
    if isinstance(layer, _NEURONS):
        spikes = outputs[0]
        row["spikes"] = (row["spikes"] or 0) + float(np.sum(spikes, dtype="float64"))
        row["neurons"] = int(np.prod(spikes.shape[2:]))
        row["_elements"] = row.get("_elements", 0) + spikes.size
    elif counting.is_synaptic(layer):
        x = inputs[0]
        if counting.is_spikes(x):
            row["sops"] += counting.synaptic_ops(layer, x)
            if row["_binary"]:
                row["input"] = "spikes"
        else:
            row["_binary"] = False
            row["input"] = "real"
            steps = 1
            if isinstance(layer, temporal.TimeFolded) and layer.static_input:
                steps = x.shape[1]  # runs once, its output is repeated over T
            row["macs"] += outputs[0].size // steps * counting.fan_in(layer)
    elif isinstance(inner, keras.layers.Dot):
        # A matrix product of real values (PointNet's input transform): dense count.
        a, b = inputs
        axes = inner.axes if isinstance(inner.axes, (list, tuple)) else (inner.axes, inner.axes)
        row["macs"] += outputs[0].size * a.shape[axes[0]]
        row["input"] = "real"
    else:
        row["acs"] += counting.accumulates(layer, inputs, outputs[0])


def _finish(rows, num, timesteps):
    spikes = elements = 0.0
    for row in rows:
        row.pop("_binary")
        elements_here = row.pop("_elements", 0)
        if row["spikes"] is not None:
            spikes += row["spikes"]
            elements += elements_here
            row["firing_rate"] = row["spikes"] / elements_here
            row["spikes"] /= num
        for key in ("macs", "sops", "acs"):
            row[key] = row[key] / num
        row["energy_pj"] = (counting.ENERGY_PJ_PER_MAC * row["macs"]
                            + counting.ENERGY_PJ_PER_AC * (row["sops"] + row["acs"]))
    totals = {key: float(sum(row[key] for row in rows)) for key in ("macs", "sops", "acs", "energy_pj")}
    totals["firing_rate"] = spikes / elements if elements else 0.0
    totals["samples"] = num
    totals["timesteps"] = timesteps
    return Profile(layers=rows, totals=totals)
