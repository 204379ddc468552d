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
- JAX: no layer paths (XLA fuses the generic ops itself), but one compiler option: on the
  CPU, XLA's YNNPACK convolutions were 1.5-2x slower than its Eigen ones here, so
  :func:`configure_xla_cpu` asks XLA not to hand single convolutions to YNNPACK (it keeps
  YNNPACK's reductions, which are the fast ones), without leaving it in ``XLA_FLAGS``. See the
  function for when it applies.

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

#: The XLA option :func:`configure_xla_cpu` applies, and the jaxlib releases it was measured on
#: (XLA aborts the process on a flag it does not know, so it is never guessed for others).
XLA_CPU_OPTION = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
XLA_CPU_OPTION_JAXLIB = ("0.10.",)


def xla_cpu_option_wanted(environ=None):
    """Whether :data:`XLA_CPU_OPTION` should apply under ``environ`` (default ``os.environ``).

    Yes when the Keras backend is JAX, the fast paths are on (``KERAS_TRT_FAST_PATHS``),
    ``KERAS_TRT_XLA_CPU_OPTION`` is not ``0``, the installed jaxlib is one the option was measured
    on, and ``XLA_FLAGS`` does not already set YNNPACK fusions (yours win).

    >>> xla_cpu_option_wanted({"KERAS_TRT_XLA_CPU_OPTION": "0"})
    False
    >>> xla_cpu_option_wanted({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"})
    False
    """
    environ = os.environ if environ is None else environ
    if not ENABLED or environ.get("KERAS_TRT_XLA_CPU_OPTION", "1") == "0":
        return False
    if keras.backend.backend() != "jax":
        return False
    if "ynn_fusion_type" in environ.get("XLA_FLAGS", ""):
        return False
    try:
        from jaxlib import version as jaxlib_version
    except ImportError:  # pragma: no cover - the JAX backend always has jaxlib
        return False
    return jaxlib_version.__version__.startswith(XLA_CPU_OPTION_JAXLIB)


def configure_xla_cpu():
    """Applies :data:`XLA_CPU_OPTION` to this process's XLA when safe and useful; returns whether.

    Measured on this project's CPU (JAX 0.10.2, spiking ResNet-18, B=32): training step T=2
    2.0-2.6 s -> 1.7-1.8 s, T=4 5.7 s -> 3.4 s, inference 0.53-0.62 s -> 0.43 s; a 3x3
    convolution's forward+backward at [64, 32, 32, 64] 210-270 ms -> 120-150 ms. Only the
    convolution kernel changes (results differ by float rounding).

    ``import keras_trt`` calls it once. It applies when :func:`xla_cpu_option_wanted` says so and
    JAX has not started a backend yet. XLA reads ``XLA_FLAGS`` once per process; this function
    adds the option to ``XLA_FLAGS``, makes XLA read them now (without starting a backend) and
    puts ``XLA_FLAGS`` back as it was, so subprocesses (and TensorFlow's own XLA in this process)
    never see it. Consequently, set any ``XLA_FLAGS`` of your own before importing keras_trt on
    JAX. ``KERAS_TRT_XLA_CPU_OPTION=0`` refuses the option; to use it without keras_trt::

        XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution python train.py
    """
    if not xla_cpu_option_wanted():
        return False
    try:
        from jax._src import xla_bridge
        from jax._src.lib import xla_client
    except ImportError:  # pragma: no cover - moved in a jaxlib this was not measured on
        return False
    if xla_bridge.backends_are_initialized():
        return False  # XLA has read its flags already: too late, and nothing to undo
    saved = os.environ.get("XLA_FLAGS")
    os.environ["XLA_FLAGS"] = f"{saved or ''} {XLA_CPU_OPTION}".strip()
    try:
        # Building compile options makes XLA parse XLA_FLAGS (once per process); no backend starts.
        xla_client.CompileOptions().executable_build_options.debug_options  # noqa: B018
        return True
    except Exception:  # pragma: no cover - an internal that moved: leave XLA's defaults
        return False
    finally:
        if saved is None:
            del os.environ["XLA_FLAGS"]
        else:
            os.environ["XLA_FLAGS"] = saved


XLA_CPU_CONFIGURED = configure_xla_cpu()


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
    # Keras normalises in float32 (``result_type(inputs.dtype, "float32")``); so do we.
    x32 = tf.cast(x, tf.float32)
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
    xc = _channels_first(x.to(compute))
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
    if layer.padding == "valid":
        padding = 0
    elif layer.padding == "same" and sh == sw == 1 and kh % 2 and kw % 2:
        padding = (kh // 2, kw // 2)  # symmetric, as Keras' "same" with stride 1
    else:
        return None
    dtype = getattr(torch, layer.compute_dtype)
    kernel = layer.kernel.value.to(dtype).permute(3, 2, 0, 1)  # HWIO -> OIHW view
    bias = layer.bias.value.to(dtype) if layer.use_bias else None
    y = F.conv2d(_channels_first(x.to(dtype)), kernel, bias, stride=(sh, sw), padding=padding)
    y = _channels_last(y)
    if layer.activation is not None and layer.activation is not keras.activations.linear:
        y = layer.activation(y)
    return y
