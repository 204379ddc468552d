"""The keras-trt side: the registry's CIFAR-stem ``sresnet18``, its weights under torch names,
and an analytic FLOP count per reversal point."""

from __future__ import annotations

import re

import numpy as np

from benchmarks.common import IMAGE, MODEL, NUM_CLASSES

#: The registry architecture of each benchmarked network (common.MODEL).
ARCHS = {"resnet18": "sresnet18_cifar", "spikformer": "spikformer_cifar10"}
ARCH = ARCHS[MODEL]


def build(timesteps, reverse_at="stem", **options):
    """keras_trt's CIFAR-stem spiking ResNet-18 (LIF tau 2, hard reset, detach_reset, ATan), or
    with ``KERAS_TRT_BENCH_MODEL=spikformer`` its Spikformer-4-384 (SpikingJelly's
    ``spikformer_cifar10``: LIF tau 2, hard reset, detach_reset, sigmoid surrogate)."""
    import keras_trt

    return keras_trt.models.build(
        ARCH, num_classes=NUM_CLASSES, timesteps=timesteps, input_shape=IMAGE,
        reverse_at=reverse_at, **options,
    )


def _torch_prefix(name):
    """Keras layer name (torchvision with ``_``) -> torch module path."""
    if name == "classifier":
        return "fc"
    m = re.fullmatch(r"(layer\d)_(\d+)_downsample_(conv|bn)", name)
    if m:
        return f"{m[1]}.{m[2]}.downsample.{0 if m[3] == 'conv' else 1}"
    m = re.fullmatch(r"(layer\d)_(\d+)_(conv\d|bn\d)", name)
    if m:
        return f"{m[1]}.{m[2]}.{m[3]}"
    if re.fullmatch(r"conv1|bn1", name):
        return name
    return None


def torch_state(model):
    """``{torch_name: array}`` of every conv, BN and the classifier of ``model``."""
    import keras

    state = {}
    for layer in model.layers:
        prefix = _torch_prefix(layer.name)
        if prefix is None:
            continue
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.Conv2D):
            (kernel,) = inner.get_weights()
            state[f"{prefix}.weight"] = kernel.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        elif isinstance(inner, keras.layers.BatchNormalization):
            gamma, beta, mean, var = inner.get_weights()
            state.update({
                f"{prefix}.weight": gamma, f"{prefix}.bias": beta,
                f"{prefix}.running_mean": mean, f"{prefix}.running_var": var,
            })
        elif isinstance(inner, keras.layers.Dense):
            kernel, bias = inner.get_weights()
            state[f"{prefix}.weight"] = kernel.T
            state[f"{prefix}.bias"] = bias
    return state


def randomize_batch_norm(model, seed):
    """Gives every BN non-trivial statistics and affine parameters (for the equality check).

    gamma ~ U(0.8, 1.6) and beta ~ U(-0.1, 0.3) keep the LIFs firing; moving statistics are
    set from a forward pass in training mode so inference sees realistic scales.
    """
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            gamma, beta, mean, var = inner.get_weights()
            inner.set_weights([
                rng.uniform(0.8, 1.6, gamma.shape).astype("float32"),
                rng.uniform(-0.1, 0.3, beta.shape).astype("float32"),
                mean, var,
            ])


def calibrate_moving_stats(model, x):
    """Sets every BN's moving statistics to the batch statistics of ``x`` (one batch)."""
    from keras_trt.diagnostics import recalibrate_batch_norm

    recalibrate_batch_norm(model, x, batch_size=len(x))


def layer_macs(layer):
    """Multiply-accumulates of one call on one sample (all time steps), from the layer shapes.

    Convolutions and Dense layers only (BN, LIF, pooling are element-wise): 0 for the others.
    The count is :func:`keras_trt.analysis.dense_macs` (the one place it is defined).
    """
    from keras_trt.analysis import dense_macs

    return dense_macs(layer)


def conv_flops(model, trt):
    """Multiply-add FLOPs (2 per MAC) of one training step per image, forward + backward.

    Layers after the model's TemporalReversal run on the doubled batch under TRT; the
    classifier on the tripled one (the star product). Backward costs twice the forward (input
    and weight gradients) except for the first convolution, whose input gradient is not needed.
    ``trt``: True (full TRT), False (the plain SNN) or a TRTConfig; the count is
    :func:`keras_trt.analysis.training_flops` (the one place it is defined).
    """
    import keras_trt
    from keras_trt.analysis.training_cost import step_flops

    if trt is True:
        trt = keras_trt.TRTConfig()
    return step_flops(model, trt or None)


def inference_gflops_per_image_step(model):
    """Forward FLOPs per image per time step (convolutions and Dense), in GFLOP.

    A layer without a time axis (the classifier on time-averaged features) counts once.
    """
    total = 0.0
    for layer in model.layers:
        out_shape = layer.output.shape
        steps = out_shape[1] if len(out_shape) >= 3 else 1
        total += 2.0 * layer_macs(layer) / steps
    return total / 1e9
