"""Small spiking networks shared by the tests."""

import keras

import keras_trt
from keras_trt import layers


def static_cnn(trt_layers=True, timesteps=2, num_classes=4, image=(8, 8, 1)):
    """Conv-BN-LIF stem, reversal after the stem, a PLIF block, star product, classifier.

    With ``trt_layers=False`` the same network without TemporalReversal and with FiringRate in
    place of StarProduct: the plain SNN with identical weights.
    """
    x = keras.Input(image)
    h = layers.RepeatTime(timesteps)(x)
    h = layers.TimeFolded(keras.layers.Conv2D(6, 3, padding="same", use_bias=False), name="stem_conv")(h)
    h = layers.batch_norm(name="stem_bn")(h)
    h = layers.LIF(detach_reset=True, name="stem_lif")(h)
    if trt_layers:
        h = layers.TemporalReversal()(h)
    h = layers.TimeFolded(keras.layers.Conv2D(8, 3, strides=2, padding="same"), name="conv2")(h)
    h = layers.ParametricLIF(detach_reset=True, surrogate="atan", name="plif2")(h)
    h = layers.TimeFolded(keras.layers.GlobalAveragePooling2D(), name="pool")(h)
    h = (layers.StarProduct() if trt_layers else layers.FiringRate())(h)
    out = keras.layers.Dense(num_classes, name="classifier")(h)
    return keras_trt.TRTModel(x, out, name="static_cnn")


def temporal_mlp(timesteps=4, features=6, num_classes=3):
    """Temporal input [B, T, F], reversal at the input."""
    x = keras.Input((timesteps, features))
    h = layers.TemporalReversal()(x)
    h = layers.TimeFolded(keras.layers.Dense(16), name="fc1")(h)
    h = layers.LIF(name="lif1")(h)
    h = layers.StarProduct()(h)
    out = keras.layers.Dense(num_classes, name="classifier")(h)
    return keras_trt.TRTModel(x, out, name="temporal_mlp")
