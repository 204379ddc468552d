"""Building blocks shared by the architecture builders: neurons, conv-BN(-neuron), checks.

Every builder in :mod:`keras_trt.models` is a functional ``TRTModel`` made of standard Keras
layers wrapped in :class:`~keras_trt.layers.TimeFolded` plus the keras_trt neurons and TRT
layers, so a saved model needs nothing beyond ``import keras_trt`` to load.

PyTorch exactness: PyTorch pads convolutions symmetrically (a 3x3 stride-2 conv pads one pixel
on every side; 7x7/2 pads 3; the 3/2 max-pool pads 1), whereas Keras ``padding="same"`` with
stride 2 pads only bottom/right. Wherever the stride is above 1 the blocks use an explicit
``ZeroPadding2D`` followed by ``padding="valid"``, so weights imported from PyTorch give the
same outputs (see :mod:`keras_trt.export.from_torch`). Stride-1 convolutions with odd kernels
use ``"same"``, which is already symmetric. BatchNormalization uses PyTorch's ``eps=1e-5`` and
``momentum=0.1`` (Keras ``momentum=0.9``).
"""

from __future__ import annotations

import difflib

import keras

from keras_trt import layers
from keras_trt.models import heads

NEURONS = ("lif", "plif")

#: Defaults of the neuron options shared by every builder. They are SpikingJelly's LIFNode
#: defaults except ``detach_reset=True`` and the ATan surrogate, as most SNN training recipes
#: (SEW-ResNet, TET, Spiking PointNet) use.
NEURON_DEFAULTS = dict(
    neuron="lif",
    tau=2.0,
    v_threshold=1.0,
    v_reset=0.0,
    decay_input=True,
    detach_reset=True,
    surrogate="atan",
)

#: Kaiming-normal, fan-out (torchvision's and SpikingJelly's ResNet/VGG convolution init).
CONV_INIT = dict(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def neuron_factory(*, suggest=(), **options):
    """A function ``make(name) -> neuron layer`` from the builders' neuron options.

    Options (all keyword, defaults in :data:`NEURON_DEFAULTS`): ``neuron`` (``"lif"`` or
    ``"plif"``; for ``"plif"``, ``tau`` is the initial time constant), ``tau``,
    ``v_threshold``, ``v_reset`` (``None``: soft reset), ``decay_input``, ``detach_reset``,
    ``surrogate`` (a name, a :class:`keras_trt.surrogates.Surrogate` or its config).

    ``suggest`` lists the calling builder's own argument names, offered as close matches for a
    misspelled argument (which lands in the builder's ``**neuron_options``).

    >>> make = neuron_factory(neuron="plif", tau=2.0)
    >>> lif = make("layer1_0_sn1")
    """
    unknown = sorted(set(options) - set(NEURON_DEFAULTS))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(NEURON_DEFAULTS) + list(suggest), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise TypeError(
            f"Unknown argument(s) {', '.join(hints)}. The builders accept the architecture's own "
            f"arguments and these neuron options: {', '.join(NEURON_DEFAULTS)}."
        )
    opts = {**NEURON_DEFAULTS, **options}
    kind = str(opts.pop("neuron")).lower()
    if kind not in NEURONS:
        raise ValueError(f"neuron must be one of {NEURONS}, got {kind!r}.")
    tau = opts.pop("tau")
    # Construct one now so that bad values (tau < 1, v_reset >= v_threshold, unknown surrogate)
    # fail at the call that passed them, not deep inside the graph construction.
    _make(kind, tau, opts, name=None)

    def make(name):
        return _make(kind, tau, opts, name=name)

    make.kind = kind
    return make


def _make(kind, tau, opts, name):
    if kind == "plif":
        return layers.ParametricLIF(init_tau=tau, name=name, **opts)
    return layers.LIF(tau=tau, name=name, **opts)


def folded(layer, name):
    """``TimeFolded(layer)`` named ``name``: the layer runs on the ``[B*T, ...]`` fold."""
    return layers.TimeFolded(layer, name=name)


def batch_norm(name):
    """BatchNormalization with PyTorch's defaults, time-folded (:func:`keras_trt.layers.batch_norm`)."""
    return layers.batch_norm(name=name)


def conv2d(h, filters, kernel_size, *, strides=1, name, use_bias=False, kernel_initializer=None):
    """A PyTorch-exact 2-D convolution (``padding=kernel_size // 2``) on ``[B, T, H, W, C]``.

    With ``strides > 1`` the symmetric padding is an explicit ``ZeroPadding2D`` named
    ``f"{name}_pad"``. ``kernel_initializer`` defaults to Kaiming-normal fan-out (:data:`CONV_INIT`).
    """
    pad = kernel_size // 2
    if strides > 1 and pad:
        h = folded(keras.layers.ZeroPadding2D(pad), f"{name}_pad")(h)
        padding = "valid"
    else:
        padding = "same" if pad else "valid"
    conv = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer or keras.initializers.VarianceScaling(**CONV_INIT),
    )
    return folded(conv, name)(h)


def conv_bn(h, filters, kernel_size, *, strides=1, conv_name, bn_name, use_bias=False):
    """Conv then BatchNorm, PyTorch-exact padding. ResNets have no conv bias; torchvision's
    VGG (and SpikingJelly's, TET's) keep one before the BatchNorm."""
    h = conv2d(h, filters, kernel_size, strides=strides, name=conv_name, use_bias=use_bias)
    return batch_norm(bn_name)(h)


def conv_bn_neuron(
    h, filters, kernel_size, make_neuron, *, strides=1, conv_name, bn_name, neuron_name, use_bias=False
):
    """Conv-BN-neuron, the basic spiking layer (``Layer`` in TET/SpikingJelly)."""
    h = conv_bn(
        h, filters, kernel_size, strides=strides, conv_name=conv_name, bn_name=bn_name, use_bias=use_bias
    )
    return make_neuron(neuron_name)(h)


def max_pool_after_spikes(h, pool_size, strides, padding, name):
    """A PyTorch-exact max-pool with ``padding`` pixels on every side.

    PyTorch pads max-pooling with -inf; zero padding is exact here because the input is the
    output of a spiking layer (spikes, all >= 0) and every window holds at least one real pixel.
    """
    if padding:
        h = folded(keras.layers.ZeroPadding2D(padding), f"{name}_pad")(h)
    return folded(keras.layers.MaxPooling2D(pool_size, strides=strides, padding="valid"), name)(h)


def scaled(channels, width_multiplier):
    """``channels * width_multiplier`` rounded, at least 1."""
    return max(1, int(round(channels * width_multiplier)))


class ReversalPoint:
    """Places the model's one :class:`~keras_trt.layers.TemporalReversal` at ``reverse_at``.

    ``points`` lists the names the builder offers, in network order. Call :meth:`at` at each
    point; it inserts the reversal where the name matches and is the identity elsewhere.
    """

    def __init__(self, reverse_at, points, builder):
        self.points = tuple(points)
        if reverse_at not in self.points:
            close = difflib.get_close_matches(str(reverse_at), self.points, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{builder}: reverse_at must be one of {list(self.points)} (where the "
                f"TemporalReversal goes: 'input' before the network, 'stem' after the stem's "
                f"neuron, 'stageN' after stage N), got {reverse_at!r}.{hint}"
            )
        self.reverse_at = reverse_at
        self.placed = False

    def at(self, point, h):
        if point not in self.points:  # a builder bug, not a user error
            raise AssertionError(f"unknown reversal point {point!r}")
        if point == self.reverse_at:
            self.placed = True
            return layers.TemporalReversal(name="reversal")(h)
        return h


def builder_arguments(fn):
    """Names of ``fn``'s named arguments (for :func:`neuron_factory`'s suggestions)."""
    import inspect

    return [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def check_num_classes(num_classes, builder):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"{builder}: num_classes must be a positive integer (the classifier's outputs), "
            f"got {num_classes!r}."
        )
    return num_classes


def check_timesteps(timesteps, builder):
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"{builder}: timesteps must be a positive integer, got {timesteps!r}.")
    return timesteps


def check_width_multiplier(width_multiplier, builder):
    if not isinstance(width_multiplier, (int, float)) or not width_multiplier > 0:
        raise ValueError(
            f"{builder}: width_multiplier must be a positive number (1.0 = the published widths), "
            f"got {width_multiplier!r}."
        )
    return float(width_multiplier)


def check_image_shape(input_shape, builder, *, min_size, why, fix, channels=None):
    """Validates ``(H, W, C)``; H and W must be at least ``min_size`` pixels."""
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise ValueError(
            f"{builder}: input_shape must be (height, width, channels) of positive integers "
            f"(channels last, no batch or time axis), got {input_shape!r}."
        )
    if channels is not None and shape[2] != channels:
        raise ValueError(
            f"{builder}: expects {channels} input channels, got input_shape {shape}."
        )
    if shape[0] < min_size or shape[1] < min_size:
        raise ValueError(
            f"{builder}: input_shape {shape} is too small: {why}, so height and width must be "
            f"at least {min_size}. {fix}"
        )
    return shape


def classifier_head(h, num_classes):
    """The standard head on ``[B, T, C]`` features: see :func:`keras_trt.models.heads.classifier_head`."""
    return heads.classifier_head(h, num_classes)
