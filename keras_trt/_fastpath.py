"""Backend fast paths for the layers that :class:`~keras_trt.layers.TimeFolded` runs.

Spiking networks spend much of a CPU training step outside the convolutions: in batch
normalisation over the folded ``[B*T, ...]`` batch and in layout changes. Keras' generic
layers pay for portability there: its BatchNormalization is several element-wise ops (and
their autodiff) instead of the fused kernel each backend has, and on torch every Conv2D copies
its channels-last input to channels-first and back. This module is the one place in keras_trt
(besides the per-backend training steps Keras itself provides) with backend-specific code:

- TensorFlow, ``BatchNormalization``: the fused ``FusedBatchNormV3`` kernel (oneDNN on CPU).
- torch, ``BatchNormalization``: ``torch.nn.functional.batch_norm`` on a channels-last view.
- torch, ``Conv2D``: ``torch.nn.functional.conv2d`` on channels-last views (no copies).
- JAX: no layer paths (XLA fuses the generic ops itself); two process settings for the CPU
  live in :mod:`keras_trt._jax_cpu`.

Each path computes what the wrapped Keras layer computes, with its variables: the same
normalisation with batch statistics in training and moving statistics otherwise, the same
moving-average update (Keras' ``momentum``, biased batch variance), the same convolution; they
differ from Keras' generic code only by floating-point rounding (tests/test_fast_paths.py).
A path returns ``None`` where it does not apply (another layer class or subclass, an unusual
configuration, float64 on TensorFlow), and the layer's own ``__call__`` runs instead.

Set ``KERAS_TRT_FAST_PATHS=0`` in the environment (before importing keras_trt), or use
``with keras_trt.temporal.fast_paths(False):``, to run Keras' generic layers instead; the same
switch turns off the LIF layers' fused op (``FUSED_LIF``).
"""

from __future__ import annotations

import os

import keras
from keras import ops

ENABLED = os.environ.get("KERAS_TRT_FAST_PATHS", "1") != "0"
#: The LIF layers' fused custom-gradient op (:func:`keras_trt.neurons.lif_spikes`); when off
#: they run the step-by-step :func:`keras_trt.neurons.lif_sequence` and autodiff.
FUSED_LIF = ENABLED
#: TensorFlow: the fused op's forward and backward each compiled as one XLA computation. Off
#: unless ``KERAS_TRT_TF_XLA_LIF=1``: measured only on a loaded machine so far (docs/how-to/speed-switches.md).
TF_XLA_LIF = ENABLED and os.environ.get("KERAS_TRT_TF_XLA_LIF", "0") == "1"

def folded_call(layer, x, training):
    """``layer(x)`` through a backend fast path, or ``None`` when there is none."""
    if not ENABLED or not layer.built:
        return None
    backend = keras.backend.backend()
    kind = type(layer)
    if kind is keras.layers.BatchNormalization:
        if not _plain_batch_norm(layer, x):
            return None
        if backend == "tensorflow":
            return _tf_batch_norm(layer, x, training)
        if backend == "torch":
            return _torch_batch_norm(layer, x, training)
    elif kind is keras.layers.Conv2D and backend == "torch":
        return _torch_conv2d(layer, x)
    return None


def _plain_batch_norm(layer, x):
    rank = len(x.shape)
    return (
        rank >= 2
        and layer.axis in (-1, rank - 1)
        and not layer.renorm
        and not getattr(layer, "synchronized", False)
        and x.shape[-1] is not None
    )


def _update_moving(layer, mean, variance):
    """Keras BatchNormalization's own moving-average update."""
    m = layer.momentum
    moving_mean = ops.cast(layer.moving_mean, mean.dtype)
    moving_variance = ops.cast(layer.moving_variance, variance.dtype)
    layer.moving_mean.assign(moving_mean * m + mean * (1.0 - m))
    layer.moving_variance.assign(moving_variance * m + variance * (1.0 - m))


# ----------------------------------------------------------------------------- TensorFlow
def _tf_batch_norm(layer, x, training):
    import tensorflow as tf

    if x.dtype not in (tf.float32, tf.float16, tf.bfloat16):
        return None  # FusedBatchNormV3 has no float64 kernel
    if any(v.dtype != "float32" for v in (layer.moving_mean, layer.moving_variance)):
        return None
    channels = int(x.shape[-1])
    # Keras normalises in float32 (``result_type(inputs.dtype, "float32")``); so do we. A bfloat16
    # input goes to the kernel as it is: it normalises in float32 inside (float32 scale, offset
    # and statistics) and returns bfloat16, the same numbers as casting around it (equal in
    # tests/test_fast_paths.py) without two float32 copies of the activations (a BN step 2.4x
    # faster in bfloat16 on a Zen 4, one thread).
    x32 = x if x.dtype == tf.bfloat16 else tf.cast(x, tf.float32)
    shape = tf.shape(x32)
    x4 = x32 if len(x.shape) == 4 else tf.reshape(x32, (-1, 1, 1, channels))
    scale = tf.cast(layer.gamma, tf.float32) if layer.scale else tf.ones((channels,), tf.float32)
    offset = tf.cast(layer.beta, tf.float32) if layer.center else tf.zeros((channels,), tf.float32)
    if training and layer.trainable:
        empty = tf.constant([], tf.float32)
        y, mean, variance = tf.raw_ops.FusedBatchNormV3(
            x=x4, scale=scale, offset=offset, mean=empty, variance=empty,
            epsilon=layer.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
            is_training=True,
        )[:3]
        # The kernel returns the Bessel-corrected variance; Keras averages the biased one.
        count = tf.cast(tf.size(x4, out_type=tf.int64) // channels, tf.float32)
        variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))
        _update_moving(layer, mean, variance)
    else:
        y = tf.raw_ops.FusedBatchNormV3(
            x=x4, scale=scale, offset=offset,
            mean=tf.cast(layer.moving_mean, tf.float32),
            variance=tf.cast(layer.moving_variance, tf.float32),
            epsilon=layer.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
            is_training=False,
        )[0]
    if len(x.shape) != 4:
        y = tf.reshape(y, shape)
    return tf.cast(y, layer.compute_dtype)


# ----------------------------------------------------------------------------- torch
def _channels_first(x):
    """A channels-first *view* of a channels-last tensor (no copy)."""
    rank = x.ndim
    return x.permute((0, rank - 1) + tuple(range(1, rank - 1))) if rank > 2 else x


def _channels_last(y):
    rank = y.ndim
    return y.permute((0,) + tuple(range(2, rank)) + (1,)) if rank > 2 else y


def _torch_batch_norm(layer, x, training):
    import torch
    import torch.nn.functional as F

    if not x.is_floating_point():
        return None
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    # bfloat16 stays bfloat16: torch's CPU batch norm takes it with float32 weights and
    # statistics and normalises in float32 inside (as the TensorFlow path above; 2.2x faster).
    xc = _channels_first(x if x.dtype == torch.bfloat16 else x.to(compute))
    channels = x.shape[-1]
    gamma = layer.gamma.value.to(compute) if layer.scale else None
    beta = layer.beta.value.to(compute) if layer.center else None
    if training and layer.trainable:
        count = x.numel() // channels
        if count < 2:
            return None
        # momentum=1 makes torch write the batch statistics into these buffers.
        mean = torch.zeros(channels, dtype=compute, device=x.device)
        variance = torch.ones(channels, dtype=compute, device=x.device)
        y = F.batch_norm(xc, mean, variance, gamma, beta, training=True, momentum=1.0,
                         eps=layer.epsilon)
        # torch stores the unbiased variance; Keras averages the biased one.
        _update_moving(layer, mean, variance * ((count - 1) / count))
    else:
        y = F.batch_norm(
            xc, layer.moving_mean.value.to(compute), layer.moving_variance.value.to(compute),
            gamma, beta, training=False, eps=layer.epsilon,
        )
    return _channels_last(y).to(getattr(torch, layer.compute_dtype))


def _torch_conv2d(layer, x):
    import torch
    import torch.nn.functional as F

    if (
        x.ndim != 4
        or layer.data_format != "channels_last"
        or layer.groups != 1
        or tuple(layer.dilation_rate) != (1, 1)
        or getattr(layer, "lora_enabled", False)
        or getattr(layer, "quantization_mode", None)
    ):
        return None
    (kh, kw), (sh, sw) = layer.kernel_size, layer.strides
    dtype = getattr(torch, layer.compute_dtype)
    if (kh, kw) == (1, 1):
        # A 1x1 convolution is a matmul over channels at every strided pixel ("same" and
        # "valid" pad nothing here). Not via F.conv2d: torch 2.13's CPU kernel for a 1x1/2
        # convolution of a channels-last input writes out of bounds in its weight gradient
        # (wrong gradients, heap corruption; tests/test_fast_paths.py has the reproduction).
        y = x[:, ::sh, ::sw, :].to(dtype) @ layer.kernel.value.to(dtype)[0, 0]
        if layer.use_bias:
            y = y + layer.bias.value.to(dtype)
        return _activate(layer, y)
    if layer.padding == "valid":
        padding = 0
    elif layer.padding == "same" and sh == sw == 1 and kh % 2 and kw % 2:
        padding = (kh // 2, kw // 2)  # symmetric, as Keras' "same" with stride 1
    else:
        return None
    kernel = layer.kernel.value.to(dtype).permute(3, 2, 0, 1)  # HWIO -> OIHW view
    bias = layer.bias.value.to(dtype) if layer.use_bias else None
    y = F.conv2d(_channels_first(x.to(dtype)), kernel, bias, stride=(sh, sw), padding=padding)
    return _activate(layer, _channels_last(y))


def _activate(layer, y):
    if layer.activation is not None and layer.activation is not keras.activations.linear:
        y = layer.activation(y)
    return y
