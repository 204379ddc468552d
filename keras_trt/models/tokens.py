"""Pieces shared by the spiking transformers (:mod:`~keras_trt.models.spikformer`,
:mod:`~keras_trt.models.spike_driven`, :mod:`~keras_trt.models.qkformer`).

Layout: images ``[B, T, H, W, C]`` in the patch stems, tokens ``[B, T, L, C]`` (``L = H*W`` in
row-major order, channels last) in the blocks. A SpikingJelly ``Conv1d(kernel_size=1)`` (or a
1x1 ``Conv2d`` on the token grid) is a time-folded ``Dense`` on the channel axis, its
``BatchNorm1d`` a BatchNormalization over batch, time and tokens; every layer except the
neurons is per step (``TimeFolded`` or a merge layer), so all time mixing stays in the LIFs.

Layer names are SpikingJelly's module paths with ``.`` replaced by ``_`` (``blocks_0_attn_qkv_lif``),
which :func:`keras_trt.export.load_torch_transformer` relies on.
"""

from __future__ import annotations

import math

import keras

from keras_trt import layers
from keras_trt.models import blocks

#: Spikformer's initialisation of every Linear / Conv (``trunc_normal_(std=0.02)``).
SPIKFORMER_INIT = dict(mean=0.0, stddev=0.02)
#: The Spike-driven Transformer's and QKFormer's kernels: Kaiming-normal, fan-in (std
#: ``sqrt(2 / fan_in)``, 2.4x PyTorch's default ``kaiming_uniform_(a=sqrt(5))``), so that a fresh
#: network's neurons fire from the first step (the BatchNorms make the scale otherwise moot).
KAIMING_INIT = dict(scale=2.0, mode="fan_in", distribution="untruncated_normal")

#: Neuron defaults of the transformer builders: SpikingJelly's ``LIFNode`` (tau 2, sigmoid
#: surrogate with alpha 4) with ``detach_reset=True`` as the Spikformer paper's neurons.
TRANSFORMER_NEURON_DEFAULTS = dict(surrogate="sigmoid")


def initializer(kind):
    if kind == "spikformer":
        return keras.initializers.TruncatedNormal(**SPIKFORMER_INIT)
    return keras.initializers.VarianceScaling(**KAIMING_INIT)


def neuron_factories(neuron_options, attn_v_threshold, builder_fn):
    """``(make, make_attention)``: the builder's neurons and the attention neurons, which take
    ``attn_v_threshold`` (SpikingJelly's attention ``LIFNode(v_threshold=0.5)``)."""
    options = {**TRANSFORMER_NEURON_DEFAULTS, **neuron_options}
    suggest = blocks.builder_arguments(builder_fn)
    make = blocks.neuron_factory(suggest=suggest, **options)
    make_attention = blocks.neuron_factory(suggest=suggest, **{**options, "v_threshold": float(attn_v_threshold)})
    return make, make_attention


def embed_width(embed_dims, width_multiplier, quantum, builder):
    """``embed_dims * width_multiplier`` rounded to a multiple of ``quantum`` (at least one)."""
    mult = blocks.check_width_multiplier(width_multiplier, builder)
    if isinstance(embed_dims, bool) or not isinstance(embed_dims, int) or embed_dims < 1:
        raise ValueError(f"{builder}: embed_dims must be a positive integer, got {embed_dims!r}.")
    width = embed_dims if mult == 1.0 else max(1, round(embed_dims * mult / quantum)) * quantum
    if width % quantum:
        raise ValueError(
            f"{builder}: embed_dims={width} must be a multiple of {quantum} (the stem's widths "
            f"and the heads divide it); e.g. embed_dims={max(1, round(width / quantum)) * quantum}."
        )
    return width


def heads_quantum(*values):
    return math.lcm(*values)


def conv(h, filters, name, *, init, use_bias, kernel_size=3, strides=1):
    """A PyTorch-exact convolution (``padding=kernel_size // 2``) on ``[B, T, H, W, C]``."""
    return blocks.conv2d(
        h, filters, kernel_size, strides=strides, name=name, use_bias=use_bias,
        kernel_initializer=initializer(init),
    )


def max_pool(h, name):
    """PyTorch's ``MaxPool2d(3, stride=2, padding=1)``: exact on real values (padding is the
    lowest float, :class:`~keras_trt.layers.MaxPoolPadding2D`), on any H and W."""
    h = blocks.folded(layers.MaxPoolPadding2D(1), f"{name}_pad")(h)
    return blocks.folded(keras.layers.MaxPooling2D(3, strides=2, padding="valid"), name)(h)


def dense(h, units, name, *, init, use_bias):
    """A time-folded Dense on the channel axis of tokens (SpikingJelly ``Conv1d(k=1)``)."""
    layer = keras.layers.Dense(units, use_bias=use_bias, kernel_initializer=initializer(init))
    return blocks.folded(layer, name)(h)


def to_tokens(h, name):
    """``[B, T, H, W, C] -> [B, T, H*W, C]``."""
    _, _, height, width, channels = h.shape
    return blocks.folded(keras.layers.Reshape((height * width, channels)), name)(h)


def to_image(h, height, width, name):
    """``[B, T, H*W, C] -> [B, T, H, W, C]``."""
    return blocks.folded(keras.layers.Reshape((height, width, h.shape[-1])), name)(h)


def token_mean(h, name):
    """The mean over tokens, ``[B, T, L, C] -> [B, T, C]`` (SpikingJelly ``x.flatten(3).mean(-1)``)."""
    return blocks.folded(keras.layers.GlobalAveragePooling1D(), name)(h)


def self_attention(h, prefix, num_heads, scale, make, make_attention, init):
    """SpikingJelly's ``SpikingSelfAttention`` on tokens ``[B, T, L, C]`` (Spikformer's SSA).

    ``qkv_conv_bn`` (Dense 3C, BN) -> ``qkv_lif`` -> ``scale * Q K^T V`` per head -> ``attn_lif``
    (the attention threshold) -> ``proj_conv_bn`` (Dense C, BN) -> ``proj_lif``.
    """
    channels = h.shape[-1]
    a = dense(h, 3 * channels, f"{prefix}_qkv_conv_bn_0", init=init, use_bias=False)
    a = blocks.batch_norm(f"{prefix}_qkv_conv_bn_1")(a)
    a = make(f"{prefix}_qkv_lif")(a)
    a = blocks.folded(layers.SelfAttentionProduct(num_heads, scale=scale), f"{prefix}_product")(a)
    a = make_attention(f"{prefix}_attn_lif")(a)
    a = dense(a, channels, f"{prefix}_proj_conv_bn_0", init=init, use_bias=False)
    a = blocks.batch_norm(f"{prefix}_proj_conv_bn_1")(a)
    return make(f"{prefix}_proj_lif")(a)


def mlp(h, hidden, prefix, make, *, init, use_bias, names):
    """Dense-BN-LIF twice (SpikingJelly's spiking MLPs); ``names`` gives the module names of
    (fc1, bn1, lif1, fc2, bn2, lif2)."""
    fc1, bn1, lif1, fc2, bn2, lif2 = names
    channels = h.shape[-1]
    m = dense(h, hidden, f"{prefix}_{fc1}", init=init, use_bias=use_bias)
    m = blocks.batch_norm(f"{prefix}_{bn1}")(m)
    m = make(f"{prefix}_{lif1}")(m)
    m = dense(m, channels, f"{prefix}_{fc2}", init=init, use_bias=use_bias)
    m = blocks.batch_norm(f"{prefix}_{bn2}")(m)
    return make(f"{prefix}_{lif2}")(m)


def check_mlp_ratio(mlp_ratio, builder):
    if not isinstance(mlp_ratio, (int, float)) or isinstance(mlp_ratio, bool) or not mlp_ratio > 0:
        raise ValueError(f"{builder}: mlp_ratio must be a positive number (4.0 in the papers), got {mlp_ratio!r}.")
    return float(mlp_ratio)


def check_depth(depth, builder, what="depths"):
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"{builder}: {what} must be a non-negative integer (transformer blocks), got {depth!r}.")
    return depth
