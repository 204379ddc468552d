"""A small spiking CNN for small images (digits, MNIST): the quickstart's network."""

import keras

from keras_trt import layers
from keras_trt.models import blocks
from keras_trt.trt import TRTModel


def spiking_cnn(
    input_shape=(8, 8, 1),
    num_classes=10,
    timesteps=4,
    widths=(16, 32),
    reverse_at="stem",
    tau=2.0,
    detach_reset=True,
    surrogate="atan",
    width_multiplier=1.0,
    name="spiking_cnn",
    **neuron_options,
):
    """Conv-BN-LIF blocks (the later ones stride 2), flatten, star product, classifier.

    Args:
        input_shape: static image shape ``(H, W, C)``; it is repeated over ``timesteps``.
        widths: channels of each block; the first is the stem.
        width_multiplier: scales ``widths``.
        reverse_at: ``"stem"`` puts the TemporalReversal right after the stem's neuron,
            ``"input"`` before the network (a no-op reversal for static images, kept for
            ablations).
        tau, detach_reset, surrogate, **neuron_options: the neuron options of
            :func:`keras_trt.models.blocks.neuron_factory`.

    Its stride-2 convolutions use Keras ``"same"`` padding (not PyTorch's symmetric padding):
    this network is not an import target.

    >>> import keras_trt
    >>> model = keras_trt.models.spiking_cnn((8, 8, 1), 10, timesteps=4)
    >>> model.compile("adam", metrics=["accuracy"], trt=keras_trt.TRTConfig())
    """
    num_classes = blocks.check_num_classes(num_classes, name)
    timesteps = blocks.check_timesteps(timesteps, name)
    widths = tuple(widths)
    if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"{name}: widths must be positive integers, one per block, got {widths!r}.")
    mult = blocks.check_width_multiplier(width_multiplier, name)
    widths = tuple(blocks.scaled(w, mult) for w in widths)
    make_neuron = blocks.neuron_factory(
        suggest=blocks.builder_arguments(spiking_cnn),
        tau=tau, detach_reset=detach_reset, surrogate=surrogate, **neuron_options,
    )
    reversal = blocks.ReversalPoint(reverse_at, ("input", "stem"), name)
    x = keras.Input(input_shape)
    h = layers.RepeatTime(timesteps)(x)
    h = reversal.at("input", h)
    for i, width in enumerate(widths):
        conv = keras.layers.Conv2D(width, 3, strides=1 if i == 0 else 2, padding="same", use_bias=False)
        h = layers.TimeFolded(conv, name=f"conv{i}")(h)
        h = blocks.batch_norm(f"bn{i}")(h)
        h = make_neuron(f"lif{i}")(h)
        if i == 0:
            h = reversal.at("stem", h)
    # Flatten, not global pooling: on 8x8 digits where a stroke is matters.
    h = layers.TimeFolded(keras.layers.Flatten(), name="flatten")(h)
    return TRTModel(x, blocks.classifier_head(h, num_classes), name=name)
