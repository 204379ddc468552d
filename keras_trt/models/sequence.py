"""A spiking MLP for multichannel time series ``[B, T, F]`` (sensor recordings, audio features).

The time axis of the data is the SNN's time axis, so the TemporalReversal sits at the input by
default: the reversed branch sees each recording played backwards.
"""

import keras

from keras_trt.models import blocks
from keras_trt.trt import TRTModel


def spiking_mlp(
    input_shape=(20, 6),
    num_classes=4,
    timesteps=None,
    hidden=(64, 64),
    reverse_at="input",
    width_multiplier=1.0,
    tau=2.0,
    detach_reset=True,
    surrogate="atan",
    name="spiking_mlp",
    **neuron_options,
):
    """Dense-BN-LIF layers applied at every step, star product, classifier.

    Args:
        input_shape: ``(T, F)``: steps and channels per step.
        timesteps: must equal ``input_shape[0]`` when given (the data's own time axis).
        hidden: units of each spiking layer.
        reverse_at: ``"input"`` (default) or ``"layer1"``, ``"layer2"``, ... (after that
            layer's neuron).

    >>> import keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(20, 6), num_classes=4)
    >>> model.compile("adam", metrics=["accuracy"], trt=keras_trt.TRTConfig())
    """
    num_classes = blocks.check_num_classes(num_classes, name)
    if len(input_shape) != 2:
        raise ValueError(
            f"{name}: input_shape must be (timesteps, features), got {tuple(input_shape)}. "
            "For images use a convolutional architecture."
        )
    steps = blocks.check_timesteps(input_shape[0], name)
    if timesteps is not None and int(timesteps) != steps:
        raise ValueError(
            f"{name}: timesteps={timesteps} but the input has {steps} steps; the data's time axis "
            "is the network's, so resample the series or pass timesteps=None."
        )
    mult = blocks.check_width_multiplier(width_multiplier, name)
    make_neuron = blocks.neuron_factory(
        suggest=blocks.builder_arguments(spiking_mlp),
        tau=tau, detach_reset=detach_reset, surrogate=surrogate, **neuron_options,
    )
    points = ("input",) + tuple(f"layer{i + 1}" for i in range(len(hidden)))
    reversal = blocks.ReversalPoint(reverse_at, points, name)
    x = keras.Input(tuple(input_shape))
    h = reversal.at("input", x)
    for i, units in enumerate(hidden):
        h = blocks.folded(keras.layers.Dense(blocks.scaled(units, mult), use_bias=False), f"fc{i + 1}")(h)
        h = blocks.batch_norm(f"bn{i + 1}")(h)
        h = make_neuron(f"sn{i + 1}")(h)
        h = reversal.at(f"layer{i + 1}", h)
    return TRTModel(x, blocks.classifier_head(h, num_classes), name=name)
