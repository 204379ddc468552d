"""Spiking VGG: VGG-11 with BatchNorm for images and VGGSNN for event frames.

Every convolution is 3x3 stride 1 with a bias (symmetric ``"same"`` padding, PyTorch-exact)
followed by BatchNorm and a neuron: ``convK``, ``bnK``, ``snK`` for the K-th convolution. Pooling layers are
``poolK`` after stage K.
"""

from __future__ import annotations

import keras

from keras_trt import layers
from keras_trt.models import blocks
from keras_trt.trt import TRTModel

#: Stages of convolution widths; a 2x2 stride-2 pooling follows every stage.
VGG11 = ((64,), (128,), (256, 256), (512, 512), (512, 512))
#: VGGSNN (TET, Deng et al. 2022): the DVS-CIFAR10 / DVS-Gesture layout, average pooling.
VGGSNN = ((64, 128), (256, 256), (512, 512), (512, 512))
POOLINGS = ("avg", "flatten")


def _spiking_vgg(
    h,
    stages,
    *,
    pool,
    make_neuron,
    reversal,
    mult,
):
    index = 0
    for stage, widths in enumerate(stages, start=1):
        for width in widths:
            index += 1
            h = blocks.conv_bn_neuron(
                h, blocks.scaled(width, mult), 3, make_neuron,
                conv_name=f"conv{index}", bn_name=f"bn{index}", neuron_name=f"sn{index}",
                use_bias=True,  # as torchvision's, SpikingJelly's and TET's VGGs
            )
            if index == 1:
                h = reversal.at("stem", h)
        h = blocks.folded(pool(2, strides=2), f"pool{stage}")(h)
        h = reversal.at(f"stage{stage}", h)
    return h


def _check_head(pooling, hidden_units, dropout, builder):
    if pooling not in POOLINGS:
        raise ValueError(f"{builder}: pooling must be one of {POOLINGS}, got {pooling!r}.")
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"{builder}: dropout must be in [0, 1), got {dropout!r}.")
    hidden_units = tuple(hidden_units)
    if not all(isinstance(u, int) and u > 0 for u in hidden_units):
        raise ValueError(f"{builder}: hidden_units must be positive integers, got {hidden_units!r}.")
    return hidden_units


def _head(h, *, pooling, hidden_units, dropout, make_neuron, mult, num_classes):
    if pooling == "avg":
        h = blocks.folded(keras.layers.GlobalAveragePooling2D(), "avgpool")(h)
    else:
        h = blocks.folded(keras.layers.Flatten(), "flatten")(h)
    for i, units in enumerate(hidden_units, start=1):
        h = blocks.folded(keras.layers.Dense(blocks.scaled(units, mult)), f"fc{i}")(h)
        h = make_neuron(f"fc{i}_sn")(h)
        if dropout:
            h = blocks.folded(keras.layers.Dropout(dropout), f"fc{i}_dropout")(h)
    return blocks.classifier_head(h, num_classes)


def svgg11(
    *,
    num_classes=10,
    timesteps=4,
    input_shape=(32, 32, 3),
    reverse_at="stem",
    pooling="avg",
    hidden_units=(),
    dropout=0.0,
    width_multiplier=1.0,
    name="svgg11",
    **neuron_options,
):
    """Spiking VGG-11 with BatchNorm (torchvision ``vgg11_bn`` features, neurons for ReLUs).

    Eight Conv3x3-BN-neuron layers, widths 64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M
    (M: 2x2 max-pooling, exact on spikes), then global average pooling, the
    :class:`~keras_trt.layers.StarProduct` and the classifier: the usual CIFAR SNN layout.
    For the torchvision / SpikingJelly ``spiking_vgg11_bn`` head use
    ``input_shape=(224, 224, 3), pooling="flatten", hidden_units=(4096, 4096), dropout=0.5,
    num_classes=1000`` (at 224x224 the 7x7 adaptive pooling is the identity); that model has
    torchvision ``vgg11_bn``'s 132,868,840 trainable parameters.

    Args:
        num_classes, timesteps: classifier outputs; T (the image is repeated T times).
        input_shape: ``(H, W, C)``, at least 32x32 (five poolings).
        reverse_at: ``"input"``, ``"stem"`` (default, after the first conv's neuron) or
            ``"stage1"`` ... ``"stage5"`` (after that stage's pooling).
        pooling: ``"avg"`` (global average) or ``"flatten"`` before the head.
        hidden_units: spiking Dense layers before the classifier (``fc1``, ``fc1_sn``, ...).
        dropout: dropout after each hidden layer's neuron.
        width_multiplier: scales every width.
        **neuron_options: see :func:`keras_trt.models.blocks.neuron_factory`.

    >>> import keras_trt
    >>> model = keras_trt.models.svgg11(num_classes=10, timesteps=4)      # CIFAR-10
    >>> model.compile("adam", metrics=["accuracy"], trt=keras_trt.TRTConfig())
    """
    builder = name
    num_classes = blocks.check_num_classes(num_classes, builder)
    timesteps = blocks.check_timesteps(timesteps, builder)
    mult = blocks.check_width_multiplier(width_multiplier, builder)
    input_shape = blocks.check_image_shape(
        input_shape, builder, min_size=32, why="VGG-11 halves the resolution five times",
        fix="Use images of at least 32x32 (upsample small ones).",
    )
    hidden_units = _check_head(pooling, hidden_units, dropout, builder)
    make_neuron = blocks.neuron_factory(suggest=blocks.builder_arguments(svgg11), **neuron_options)
    reversal = blocks.ReversalPoint(
        reverse_at, ["input", "stem"] + [f"stage{i}" for i in range(1, 6)], builder
    )
    x = keras.Input(input_shape, name="images")
    h = layers.RepeatTime(timesteps, name="repeat_time")(x)
    h = reversal.at("input", h)
    h = _spiking_vgg(
        h, VGG11, pool=keras.layers.MaxPooling2D, make_neuron=make_neuron, reversal=reversal, mult=mult
    )
    out = _head(
        h, pooling=pooling, hidden_units=hidden_units, dropout=dropout,
        make_neuron=make_neuron, mult=mult, num_classes=num_classes,
    )
    assert reversal.placed
    return TRTModel(x, out, name=name)


def vggsnn(
    *,
    num_classes=10,
    timesteps=10,
    input_shape=(48, 48, 2),
    reverse_at="input",
    width_multiplier=1.0,
    name="vggsnn",
    **neuron_options,
):
    """VGGSNN for event frames (TET, Deng et al. 2022; used across DVS-CIFAR10 / DVS-Gesture work).

    Input: event frames ``[B, T, H, W, C]`` (default 10 frames of 48x48 with 2 polarity
    channels). Layers: Conv3x3-BN-neuron with widths 64, 128, A, 256, 256, A, 512, 512, A, 512,
    512, A (A: 2x2 average pooling), flatten (512 x 3 x 3 at 48x48), the
    :class:`~keras_trt.layers.StarProduct` and the classifier (TET's ``Linear(512*3*3, 10)``
    applied per step and averaged over T).

    Args:
        num_classes: classifier outputs (10 for DVS-CIFAR10, 11 for DVS-Gesture).
        timesteps: number of frames T (the model's input is ``(T, H, W, C)``).
        input_shape: one frame, ``(H, W, C)``, at least 16x16.
        reverse_at: ``"input"`` (default: the frames are time-reversed), ``"stem"`` or
            ``"stage1"`` ... ``"stage4"``.
        width_multiplier: scales every width.
        **neuron_options: see :func:`keras_trt.models.blocks.neuron_factory`.

    >>> import keras_trt
    >>> model = keras_trt.models.vggsnn(num_classes=10, timesteps=10)   # DVS-CIFAR10, 48x48
    >>> model.input_shape
    (None, 10, 48, 48, 2)
    """
    builder = name
    num_classes = blocks.check_num_classes(num_classes, builder)
    timesteps = blocks.check_timesteps(timesteps, builder)
    mult = blocks.check_width_multiplier(width_multiplier, builder)
    input_shape = blocks.check_image_shape(
        input_shape, builder, min_size=16, why="VGGSNN halves the resolution four times",
        fix="Use frames of at least 16x16 (48x48 is the usual size).",
    )
    make_neuron = blocks.neuron_factory(suggest=blocks.builder_arguments(vggsnn), **neuron_options)
    reversal = blocks.ReversalPoint(
        reverse_at, ["input", "stem"] + [f"stage{i}" for i in range(1, 5)], builder
    )
    x = keras.Input((timesteps,) + input_shape, name="frames")
    h = reversal.at("input", x)
    h = _spiking_vgg(
        h, VGGSNN, pool=keras.layers.AveragePooling2D, make_neuron=make_neuron, reversal=reversal, mult=mult
    )
    out = _head(
        h, pooling="flatten", hidden_units=(), dropout=0.0,
        make_neuron=make_neuron, mult=mult, num_classes=num_classes,
    )
    assert reversal.placed
    return TRTModel(x, out, name=name)
