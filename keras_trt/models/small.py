"""A small spiking CNN for small images (digits, MNIST): the quickstart's network."""

import keras

from keras_trt import layers
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
    name="spiking_cnn",
):
    """Conv-BN-LIF blocks (the later ones stride 2), flatten, star product, classifier.

    Args:
        input_shape: static image shape ``(H, W, C)``; it is repeated over ``timesteps``.
        widths: channels of each block; the first is the stem.
        reverse_at: ``"stem"`` puts the TemporalReversal right after the stem's neuron,
            ``"input"`` before the network (a no-op reversal for static images, kept for
            ablations).

    >>> model = keras_trt.models.small.spiking_cnn((8, 8, 1), 10, timesteps=4)
    >>> model.compile("adam", metrics=["accuracy"], trt=keras_trt.TRTConfig())
    """
    if reverse_at not in ("stem", "input"):
        raise ValueError(f"reverse_at must be 'stem' or 'input', got {reverse_at!r}.")
    neuron = dict(tau=tau, detach_reset=detach_reset, surrogate=surrogate)
    x = keras.Input(input_shape)
    h = layers.RepeatTime(timesteps)(x)
    if reverse_at == "input":
        h = layers.TemporalReversal()(h)
    for i, width in enumerate(widths):
        conv = keras.layers.Conv2D(width, 3, strides=1 if i == 0 else 2, padding="same", use_bias=False)
        h = layers.TimeFolded(conv, name=f"conv{i}")(h)
        h = layers.TimeFolded(keras.layers.BatchNormalization(), name=f"bn{i}")(h)
        h = layers.LIF(**neuron, name=f"lif{i}")(h)
        if i == 0 and reverse_at == "stem":
            h = layers.TemporalReversal()(h)
    # Flatten, not global pooling: on 8x8 digits where a stroke is matters.
    h = layers.TimeFolded(keras.layers.Flatten(), name="flatten")(h)
    h = layers.StarProduct()(h)
    out = keras.layers.Dense(num_classes, name="classifier")(h)
    return TRTModel(x, out, name=name)
