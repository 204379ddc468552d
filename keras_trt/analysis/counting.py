"""Operation counts of single layers: dense multiply-accumulates, synaptic operations, accumulates.

The counting rules (the ones SNN papers use; :func:`keras_trt.analysis.profile` applies them):

- A synaptic layer (``Dense``, ``Conv1D/2D/3D``) whose input is **spikes** (every value 0 or 1,
  tested on the data, as SpikingJelly's counters do) costs **SOPs** (synaptic operations, one
  accumulate each): every non-zero input element times the weights it touches. Dense: ``units``
  per non-zero input. Convolution: exact and border-aware, the number of output positions whose
  window covers the input element, times ``filters / groups`` (SpikingJelly 2.0's
  ``SynOpCounter`` / ``ACCounter`` ``_spike_convolution``).
- One fed by **real values** (the first layer on pixels, a classifier on firing rates, a layer
  after a spike-sum ``Add``) costs **MACs**: the dense count, output elements times fan-in
  (SpikingJelly's ``MACCounter``), for every time step it runs at.
- **Accumulates** (ACs) outside synapses follow SpikingJelly 2.0's ``ACCounter``: average pooling
  ``out.numel() * (prod(pool_size) - 1)`` (``avg_pool2d``); a mean over axes (global average
  pooling, the firing rate over T) ``in.numel() - out.numel()`` (``sum``/``mean``); an
  element-wise ``Add``/``Subtract`` ``nnz(a) + nnz(b)`` when both inputs are spikes, else
  ``out.numel()`` (``add``/``sub``).
- **Attention products** (the spiking transformers' layers in :mod:`keras_trt.transformer_layers`):
  a product of two **spike** operands is an AND and costs **one accumulate when both are 1**
  (nothing otherwise); a product of a spike and a real value costs one accumulate when the spike
  is 1; no multiply-accumulate arises, because each product has a spike factor. So Spikformer's
  ``Q K^T V`` costs the co-active key/value pairs of ``K^T V`` plus, per Q spike, the non-zero
  entries of its row of ``K^T V``; QKFormer's token attention one per Q spike; the Spike-driven
  Transformer's ``sum K * V`` one per co-active pair, its mask of Q (a ``Multiply``) nothing.
  Constant scales (0.125) are free: they fold into the next neuron's threshold.
- Free: BatchNormalization (folded into the preceding convolution or Dense at inference),
  neurons' membrane updates (as in the energy estimates of SNN papers), max pooling (comparisons),
  ``Multiply`` (SpikingJelly counts no ``mul``), padding, reshapes, dropout.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_trt._graph import inner_layer

#: Energy per operation at 45 nm, 32-bit floating point (Horowitz, ISSCC 2014).
ENERGY_PJ_PER_MAC = 4.6
ENERGY_PJ_PER_AC = 0.9

_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
              keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_AVG_POOLS = (keras.layers.AveragePooling1D, keras.layers.AveragePooling2D, keras.layers.AveragePooling3D)
_GLOBAL_AVG_POOLS = (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
                     keras.layers.GlobalAveragePooling3D)
_ELEMENTWISE_ADDS = (keras.layers.Add, keras.layers.Subtract)


def is_synaptic(layer):
    """Whether ``layer`` (or the layer it wraps) is a Dense or a convolution."""
    return isinstance(inner_layer(layer), (keras.layers.Dense,) + _CONVS)


def fan_in(layer):
    """Multiply-accumulates per output element of a Dense or convolution."""
    inner = inner_layer(layer)
    if isinstance(inner, keras.layers.Dense):
        return int(inner.kernel.shape[0])
    if isinstance(inner, _CONVS):
        return int(math.prod(inner.kernel.shape[:-1]))  # kernel window x input channels per group
    raise TypeError(f"{type(inner).__name__} is not a Dense or convolution layer.")


def dense_macs(layer):
    """Multiply-accumulates of one call on one sample (all time steps), from the layer shapes.

    The dense count of a Dense or convolution: output elements (per sample, time axis included
    for time-folded layers) times the fan-in; 0 for every other layer (BN, neurons, pooling are
    element-wise).

    >>> import keras, keras_trt
    >>> conv = keras_trt.layers.TimeFolded(keras.layers.Conv2D(8, 3, padding="same"))
    >>> _ = conv(keras.Input((2, 6, 6, 3)))
    >>> dense_macs(conv)                     # 2 steps x 6x6 positions x 8 filters x 3x3x3
    15552
    """
    check_countable(layer)
    if not is_synaptic(layer):
        return 0
    out_shape = layer.output.shape  # [B, T, ...] for time-folded layers, [B, K] for the classifier
    return int(np.prod(out_shape[1:])) * fan_in(layer)


def check_countable(layer):
    """Raises a ValueError naming the fix for a layer with weights whose cost is not modelled."""
    inner = inner_layer(layer)
    if isinstance(inner, _TRANSPOSED + _DEPTHWISE):
        raise ValueError(
            f"Layer {layer.name!r} ({type(inner).__name__}): keras_trt.analysis counts Dense, "
            "Conv1D/2D/3D, pooling and element-wise adds; transposed, depthwise and separable "
            "convolutions are not modelled. Replace the layer or count it yourself."
        )


def synaptic_ops(layer, x):
    """SOPs of a Dense or convolution on the spike tensor ``x`` (all samples and steps).

    ``x`` is the layer's input as a NumPy array (``[B, T, ...]`` for a time-folded layer, where
    the steps fold into the batch). Dense: ``nnz(x) * units``. Convolution: for each non-zero input
    element, the number of output positions whose (strided, dilated, padded) window covers it,
    times ``filters / groups``: an all-ones convolution of ``x`` counts the covered inputs per
    output position and group.
    """
    inner = inner_layer(layer)
    if isinstance(inner, keras.layers.Dense):
        return int(np.count_nonzero(x)) * int(inner.units)
    if not isinstance(inner, _CONVS):
        raise TypeError(f"{type(inner).__name__} is not a Dense or convolution layer.")
    rank = len(inner.kernel_size)
    x = np.asarray(x, dtype="float32").reshape((-1,) + tuple(x.shape[-(rank + 1):]))
    if inner.data_format == "channels_first":
        x = np.moveaxis(x, 1, -1)
    groups = int(inner.groups)
    padding = inner.padding
    if padding == "causal":  # Conv1D: left padding of dilation * (k - 1)
        x = np.pad(x, ((0, 0), ((inner.kernel_size[0] - 1) * inner.dilation_rate[0], 0), (0, 0)))
        padding = "valid"
    ones = np.ones(tuple(inner.kernel_size) + (x.shape[-1] // groups, groups), dtype="float32")
    occupancy = 0.0
    # In chunks: the ones-convolution of a large batch would hold a second copy of it.
    for start in range(0, x.shape[0], 256):
        covered = ops.conv(x[start : start + 256], ones, strides=inner.strides, padding=padding,
                           data_format="channels_last", dilation_rate=inner.dilation_rate)
        occupancy += float(np.sum(ops.convert_to_numpy(covered), dtype="float64"))
    return int(round(occupancy)) * (int(inner.filters) // groups)


def accumulates(layer, inputs, output):
    """ACs of a pooling or element-wise layer (SpikingJelly 2.0 ``ACCounter`` rules), else 0.

    ``inputs`` is the list of input arrays, ``output`` the output array (whole batch).
    """
    from keras_trt import temporal
    from keras_trt.transformer_layers import ATTENTION_LAYERS

    inner = inner_layer(layer)
    if isinstance(inner, ATTENTION_LAYERS):
        return inner.accumulates(inputs[0])
    if isinstance(inner, _AVG_POOLS):
        return int(output.size) * (int(math.prod(inner.pool_size)) - 1)
    if isinstance(inner, _GLOBAL_AVG_POOLS) or isinstance(inner, (temporal.StarProduct, temporal.FiringRate)):
        return int(inputs[0].size) - int(output.size)
    if isinstance(inner, _ELEMENTWISE_ADDS):
        if all(is_spikes(a) for a in inputs):
            return sum(int(np.count_nonzero(a)) for a in inputs)
        return int(output.size) * (len(inputs) - 1)
    return 0


def is_spikes(x):
    """Whether every value of ``x`` is 0 or 1 (SpikingJelly's test for a spike tensor)."""
    x = np.asarray(x)
    return x.dtype == bool or bool(np.all((x == 0) | (x == 1)))
