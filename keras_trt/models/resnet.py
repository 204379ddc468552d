"""Spiking ResNets: the classic spiking block and SEW-ResNet, ImageNet and CIFAR stems.

Layout and layer names follow torchvision's ``resnet`` (which SpikingJelly's ``spiking_resnet``
and ``sew_resnet`` copy), with ``.`` replaced by ``_``: ``conv1``, ``bn1``, ``sn1`` (stem),
``layer2_0_conv1``, ``layer2_0_bn1``, ``layer2_0_sn1``, ..., ``layer2_0_downsample_conv`` /
``layer2_0_downsample_bn`` (torch ``downsample.0`` / ``downsample.1``), ``avgpool`` and the
Dense ``classifier`` (torch ``fc``). :func:`keras_trt.export.load_torch_resnet` relies on them.

Blocks (BasicBlock, two 3x3 convolutions):

- ``block="spiking"`` (SpikingJelly ``spiking_resnet``, Zheng et al. tdBN):
  ``sn2(bn2(conv2(sn1(bn1(conv1(x))))) + downsample(x))``; the shortcut is the identity or
  conv1x1-BN, and the residual is added before the last neuron.
- ``block="sew"`` (SEW-ResNet, Fang et al. 2021): ``g(shortcut(x), sn2(bn2(conv2(...))))``
  where the downsampling shortcut is conv1x1-BN-neuron and ``g`` is the spike-element-wise
  function ``"add"`` (ADD, the default), ``"and"`` (``s * o``) or ``"iand"`` (``s * (1 - o)``),
  ``s`` the shortcut and ``o`` the residual branch, as SpikingJelly's ``sew_function``.
"""

from __future__ import annotations

import keras

from keras_trt import layers
from keras_trt.models import blocks
from keras_trt.trt import TRTModel

STEMS = ("imagenet", "cifar")
BLOCKS = ("spiking", "sew")
SEW_FUNCTIONS = ("add", "and", "iand")
_DEFAULT_INPUT = {"imagenet": ((224, 224, 3), 1000), "cifar": ((32, 32, 3), 10)}


def spiking_resnet(
    stage_blocks,
    stage_widths,
    *,
    block="spiking",
    stem="imagenet",
    stem_width=None,
    head_units=(),
    sew_function="add",
    num_classes=None,
    timesteps=4,
    input_shape=None,
    reverse_at="stem",
    width_multiplier=1.0,
    name="spiking_resnet",
    **neuron_options,
):
    """A spiking ResNet of BasicBlocks; the named builders (:func:`sresnet18`, ...) call this.

    Args:
        stage_blocks: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        stage_widths: channels per stage, e.g. ``(64, 128, 256, 512)``. The first stage keeps
            the resolution, every later one halves it (stride 2 in its first block).
        block: ``"spiking"`` (SpikingJelly ``spiking_resnet``) or ``"sew"`` (SEW-ResNet).
        stem: ``"imagenet"`` (7x7/2 conv, BN, neuron, 3x3/2 max-pool) or ``"cifar"``
            (3x3/1 conv, BN, neuron, no pooling).
        stem_width: channels of the stem conv (default: ``stage_widths[0]``).
        head_units: hidden spiking Dense layers between the pooled features and the classifier
            (named ``fc1``, ``fc1_sn``, ...; ResNet-19 has one of 256).
        sew_function: SEW's connection, ``"add"``, ``"and"`` or ``"iand"`` (``block="sew"``).
        num_classes: classifier outputs (default 1000 for the ImageNet stem, 10 for CIFAR).
        timesteps: T; the static image is repeated T times (direct encoding).
        input_shape: ``(H, W, C)`` (default ``(224, 224, 3)`` ImageNet, ``(32, 32, 3)`` CIFAR).
        reverse_at: where the :class:`~keras_trt.layers.TemporalReversal` goes: ``"input"``,
            ``"stem"`` (default: after the stem's neuron and, for the ImageNet stem, its
            max-pool, which acts per time step and so commutes with the reversal; the stem then
            runs once per image under TRT) or ``"stage1"`` ... ``"stageN"`` (after that stage).
        width_multiplier: scales every width (``0.125`` gives a small test model).
        name: the model's name.
        **neuron_options: ``neuron`` (``"lif"``/``"plif"``), ``tau``, ``v_threshold``,
            ``v_reset``, ``decay_input``, ``detach_reset``, ``surrogate``; see
            :func:`keras_trt.models.blocks.neuron_factory` (defaults: LIF, tau 2,
            detach_reset, ATan surrogate).

    Returns:
        A :class:`~keras_trt.TRTModel` mapping ``[B, H, W, C]`` images to ``[B, num_classes]``
        logits (the time-averaged output of a linear classifier on the firing rates).

    >>> import keras_trt
    >>> model = keras_trt.models.spiking_resnet(
    ...     (1, 1), (16, 32), stem="cifar", input_shape=(16, 16, 3), num_classes=10, timesteps=2)
    >>> model.compile("adam", metrics=["accuracy"], trt=keras_trt.TRTConfig())
    """
    builder = name
    if stem not in STEMS:
        raise ValueError(f"{builder}: stem must be one of {STEMS}, got {stem!r}.")
    if block not in BLOCKS:
        raise ValueError(f"{builder}: block must be one of {BLOCKS}, got {block!r}.")
    sew_function = str(sew_function).lower()
    if sew_function not in SEW_FUNCTIONS:
        raise ValueError(
            f"{builder}: sew_function must be one of {SEW_FUNCTIONS} (SEW-ResNet's ADD, AND, "
            f"IAND), got {sew_function!r}."
        )
    stage_blocks, stage_widths = tuple(stage_blocks), tuple(stage_widths)
    if not stage_blocks or len(stage_blocks) != len(stage_widths) or min(stage_blocks) < 1:
        raise ValueError(
            f"{builder}: stage_blocks and stage_widths need one positive entry per stage, got "
            f"{stage_blocks} and {stage_widths}."
        )
    default_shape, default_classes = _DEFAULT_INPUT[stem]
    num_classes = blocks.check_num_classes(
        default_classes if num_classes is None else num_classes, builder
    )
    timesteps = blocks.check_timesteps(timesteps, builder)
    mult = blocks.check_width_multiplier(width_multiplier, builder)
    stem_stride = 4 if stem == "imagenet" else 1
    factor = stem_stride * 2 ** (len(stage_blocks) - 1)
    input_shape = blocks.check_image_shape(
        default_shape if input_shape is None else input_shape,
        builder,
        min_size=factor,
        why=f"the network downsamples by {factor} ({'stride-4 ImageNet stem' if stem == 'imagenet' else 'stride-1 CIFAR stem'}, "
        f"{len(stage_blocks) - 1} stride-2 stages)",
        fix=(
            "Use larger images, or stem='cifar' (3x3 stride-1 conv, no max-pool) for small ones."
            if stem == "imagenet"
            else "Use larger images or fewer stages."
        ),
    )
    make_neuron = blocks.neuron_factory(
        suggest=blocks.builder_arguments(spiking_resnet), **neuron_options
    )
    points = ["input", "stem"] + [f"stage{i + 1}" for i in range(len(stage_blocks))]
    reversal = blocks.ReversalPoint(reverse_at, points, builder)
    widths = [blocks.scaled(w, mult) for w in stage_widths]
    stem_width = blocks.scaled(stage_widths[0] if stem_width is None else stem_width, mult)

    x = keras.Input(input_shape, name="images")
    h = layers.RepeatTime(timesteps, name="repeat_time")(x)
    h = reversal.at("input", h)
    if stem == "imagenet":
        h = blocks.conv_bn_neuron(
            h, stem_width, 7, make_neuron, strides=2, conv_name="conv1", bn_name="bn1", neuron_name="sn1"
        )
        h = blocks.max_pool_after_spikes(h, 3, 2, 1, "maxpool")
    else:
        h = blocks.conv_bn_neuron(h, stem_width, 3, make_neuron, conv_name="conv1", bn_name="bn1", neuron_name="sn1")
    h = reversal.at("stem", h)

    channels = stem_width
    for stage, (count, width) in enumerate(zip(stage_blocks, widths), start=1):
        for index in range(count):
            strides = 2 if stage > 1 and index == 0 else 1
            h = _basic_block(
                h, channels, width, strides, make_neuron, block, sew_function, f"layer{stage}_{index}"
            )
            channels = width
        h = reversal.at(f"stage{stage}", h)

    h = blocks.folded(keras.layers.GlobalAveragePooling2D(), "avgpool")(h)
    for i, units in enumerate(head_units, start=1):
        h = blocks.folded(keras.layers.Dense(blocks.scaled(units, mult)), f"fc{i}")(h)
        h = make_neuron(f"fc{i}_sn")(h)
    out = blocks.classifier_head(h, num_classes)
    assert reversal.placed
    return TRTModel(x, out, name=name)


def _basic_block(x, in_channels, width, strides, make_neuron, block, sew_function, prefix):
    downsample = strides != 1 or in_channels != width
    out = blocks.conv_bn_neuron(
        x, width, 3, make_neuron, strides=strides,
        conv_name=f"{prefix}_conv1", bn_name=f"{prefix}_bn1", neuron_name=f"{prefix}_sn1",
    )
    out = blocks.conv_bn(out, width, 3, conv_name=f"{prefix}_conv2", bn_name=f"{prefix}_bn2")
    shortcut = x
    if downsample:
        shortcut = blocks.conv_bn(
            x, width, 1, strides=strides,
            conv_name=f"{prefix}_downsample_conv", bn_name=f"{prefix}_downsample_bn",
        )
    if block == "spiking":
        out = keras.layers.Add(name=f"{prefix}_add")([out, shortcut])
        return make_neuron(f"{prefix}_sn2")(out)
    out = make_neuron(f"{prefix}_sn2")(out)
    if downsample:
        shortcut = make_neuron(f"{prefix}_downsample_sn")(shortcut)
    return _sew(shortcut, out, sew_function, prefix)


def _sew(shortcut, out, function, prefix):
    """SpikingJelly's ``sew_function(identity, out, cnf)`` from standard (serializable) layers."""
    if function == "add":
        return keras.layers.Add(name=f"{prefix}_sew")([shortcut, out])
    if function == "and":
        return keras.layers.Multiply(name=f"{prefix}_sew")([shortcut, out])
    # IAND: s * (1 - o) = s - s * o
    both = keras.layers.Multiply(name=f"{prefix}_sew_and")([shortcut, out])
    return keras.layers.Subtract(name=f"{prefix}_sew")([shortcut, both])


_RESNET18 = ((2, 2, 2, 2), (64, 128, 256, 512))
_RESNET34 = ((3, 4, 6, 3), (64, 128, 256, 512))


def sresnet18(**kwargs):
    """Spiking ResNet-18 (SpikingJelly ``spiking_resnet18``): BasicBlocks [2, 2, 2, 2], widths 64-512.

    Defaults to the ImageNet stem, 224x224x3 input and 1000 classes; ``stem="cifar"`` gives the
    CIFAR variant (3x3 stem, no max-pool, 32x32x3, 10 classes). At 1000 classes with the LIF
    neuron it has torchvision ``resnet18``'s 11,689,512 trainable parameters. Takes every
    argument of :func:`spiking_resnet` except the stage layout.

    >>> import keras_trt
    >>> model = keras_trt.models.sresnet18(num_classes=10, timesteps=2, stem="cifar")
    >>> model.compile("sgd", trt=keras_trt.TRTConfig())
    """
    kwargs.setdefault("name", "sresnet18")
    return spiking_resnet(*_RESNET18, **kwargs)


def sresnet34(**kwargs):
    """Spiking ResNet-34 (SpikingJelly ``spiking_resnet34``): BasicBlocks [3, 4, 6, 3], widths 64-512.

    As :func:`sresnet18` otherwise; 21,797,672 trainable parameters at 1000 classes
    (torchvision ``resnet34``).

    >>> import keras_trt
    >>> model = keras_trt.models.sresnet34(timesteps=2)      # ImageNet, 224x224, 1000 classes
    """
    kwargs.setdefault("name", "sresnet34")
    return spiking_resnet(*_RESNET34, **kwargs)


def sew_resnet18(**kwargs):
    """SEW-ResNet-18 (SpikingJelly ``sew_resnet18``, ``cnf="ADD"`` by default).

    ``sew_function="and"`` / ``"iand"`` select the other connections. Same parameters as
    :func:`sresnet18` (the SEW downsampling neuron has none).

    >>> import keras_trt
    >>> model = keras_trt.models.sew_resnet18(num_classes=10, stem="cifar")
    """
    kwargs.setdefault("name", "sew_resnet18")
    kwargs.setdefault("block", "sew")
    return spiking_resnet(*_RESNET18, **kwargs)


def sew_resnet34(**kwargs):
    """SEW-ResNet-34 (SpikingJelly ``sew_resnet34``, ``cnf="ADD"``), the SEW paper's ImageNet net.

    >>> import keras_trt
    >>> model = keras_trt.models.sew_resnet34(timesteps=4)   # ImageNet, 1000 classes
    """
    kwargs.setdefault("name", "sew_resnet34")
    kwargs.setdefault("block", "sew")
    return spiking_resnet(*_RESNET34, **kwargs)


def sresnet19(**kwargs):
    """Spiking ResNet-19, the tdBN / TET CIFAR network (Zheng et al. 2021; Deng et al. 2022).

    Definition (TET's ``resnet19``): 3x3 stem of 128 channels (stride 1, no max-pool), classic
    spiking BasicBlocks [3, 3, 2] of widths 128-256-512 (strides 1, 2, 2; conv1x1-BN
    projection shortcuts), global average pooling, a spiking hidden layer ``fc1`` of 256
    units, and the classifier (TET's ``fc2``). Defaults: 32x32x3 input, 10 classes.

    >>> import keras_trt
    >>> model = keras_trt.models.sresnet19(num_classes=100, timesteps=2)
    """
    kwargs.setdefault("name", "sresnet19")
    kwargs.setdefault("stem", "cifar")
    kwargs.setdefault("head_units", (256,))
    return spiking_resnet((3, 3, 2), (128, 256, 512), **kwargs)


def sresnet20(**kwargs):
    """Spiking ResNet-20: He et al.'s CIFAR ResNet-20 with spiking BasicBlocks.

    Definition: 3x3 stem of 16 channels (stride 1), BasicBlocks [3, 3, 3] of widths 16-32-64
    (strides 1, 2, 2), global average pooling and the classifier. The two downsampling
    shortcuts are conv1x1-BN projections (He et al.'s option B) rather than option A's
    zero-padding, the same shortcut as every other ResNet here. (Some SNN papers call a wider,
    VGG-like network "ResNet-20"; this is not that one.) Defaults: 32x32x3 input, 10 classes.

    >>> import keras_trt
    >>> model = keras_trt.models.sresnet20(timesteps=4)
    """
    kwargs.setdefault("name", "sresnet20")
    kwargs.setdefault("stem", "cifar")
    return spiking_resnet((3, 3, 3), (16, 32, 64), **kwargs)
