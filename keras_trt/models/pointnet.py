"""Spiking PointNet (Ren et al., NeurIPS 2023) for point-cloud classification (ModelNet40).

The layout of the Spiking PointNet code (yanx27's PointNet with every ReLU replaced by a
spiking neuron): the points ``[B, N, 3]`` are repeated over T; an optional input transform
(T-Net / STN3d: per-point MLP 64-128-1024, max over points, MLP 512-256, a 3x3 matrix per
sample and step) rotates them; shared per-point MLPs ``conv1`` 64 and ``conv2`` 128 (Dense-BN-
neuron on every point), ``conv3`` 1024 with BN and no neuron, a max-pool over the points, the
head ``fc1`` 512 (BN, neuron) and ``fc2`` 256 (dropout, BN, neuron), the
:class:`~keras_trt.layers.StarProduct` and the classifier (``fc3``).

Per-point layers are Dense layers on ``[B*T, N, C]`` (PyTorch's ``Conv1d(k=1)`` on ``[B, C, N]``);
BatchNorm normalises each channel over batch, time and points.
"""

from __future__ import annotations

import numpy as np

import keras

from keras_trt import layers
from keras_trt.models import blocks
from keras_trt.trt import TRTModel


def _dense_bn(h, units, name, bn_name):
    h = blocks.folded(keras.layers.Dense(units), name)(h)
    return blocks.batch_norm(bn_name)(h)


def _input_transform(points, h, *, timesteps, num_points, make_neuron, mult):
    """STN3d on ``h`` ``[B, T, N, 3]``; returns the points transformed per step, ``[B, T, N, 3]``.

    ``points`` is the static ``[B, N, 3]`` cloud that ``h`` repeats over time. With it, the
    per-sample, per-step product ``points @ M[b, t]`` is one standard ``Dot`` of ``[B, N, 3]``
    with the step matrices laid side by side, ``[B, 3, 3T]``; no custom layer is needed.
    """
    for i, units in enumerate((64, 128, 1024), start=1):
        h = _dense_bn(h, blocks.scaled(units, mult), f"stn_conv{i}", f"stn_bn{i}")
        h = make_neuron(f"stn_sn{i}")(h)
    h = blocks.folded(keras.layers.GlobalMaxPooling1D(), "stn_pool")(h)  # [B, T, C]
    for i, units in enumerate((512, 256), start=4):
        h = _dense_bn(h, blocks.scaled(units, mult), f"stn_fc{i - 3}", f"stn_bn{i}")
        h = make_neuron(f"stn_sn{i}")(h)
    # PointNet adds the identity to fc3's output; a bias initialised to it is the same model.
    identity = keras.initializers.Constant(np.eye(3, dtype="float32").reshape(-1))
    m = blocks.folded(keras.layers.Dense(9, bias_initializer=identity), "stn_fc3")(h)  # [B, T, 9]
    m = keras.layers.Reshape((timesteps, 3, 3), name="stn_matrix")(m)  # M[b, t, j, k]
    m = keras.layers.Permute((2, 1, 3), name="stn_matrix_by_row")(m)  # [B, 3 (j), T, 3 (k)]
    m = keras.layers.Reshape((3, 3 * timesteps), name="stn_matrices")(m)
    out = keras.layers.Dot(axes=(2, 1), name="stn_transform")([points, m])  # [B, N, 3T]
    out = keras.layers.Reshape((num_points, timesteps, 3), name="stn_points")(out)
    return keras.layers.Permute((2, 1, 3), name="stn_points_by_step")(out)  # [B, T, N, 3]


def spiking_pointnet(
    *,
    num_classes=40,
    timesteps=4,
    input_shape=(1024, 3),
    input_transform=True,
    reverse_at="stem",
    dropout=0.4,
    width_multiplier=1.0,
    name="spointnet",
    **neuron_options,
):
    """Spiking PointNet classifier; input ``[B, N, 3]`` point clouds, repeated over T.

    Args:
        num_classes: classifier outputs (40 for ModelNet40).
        timesteps: T (the cloud is repeated T times; direct encoding).
        input_shape: ``(N, 3)``: points per cloud and xyz.
        input_transform: include the T-Net (STN3d) input transform. The feature transform
            (STNkd on the 64-d features) is not provided.
        reverse_at: ``"input"``, ``"stem"`` (default, after ``conv1``'s neuron; the T-Net and
            the first per-point layer run once per cloud under TRT), ``"stage1"`` (after
            ``conv2``'s neuron) or ``"stage2"`` (after the max-pool over points).
        dropout: dropout rate in the head (after ``fc2``, before its BatchNorm), 0.4 as PointNet.
        width_multiplier: scales every width (T-Net included).
        **neuron_options: see :func:`keras_trt.models.blocks.neuron_factory`.

    >>> import keras_trt
    >>> model = keras_trt.models.spiking_pointnet(num_classes=40, timesteps=2)   # ModelNet40
    >>> model.input_shape
    (None, 1024, 3)
    """
    builder = name
    num_classes = blocks.check_num_classes(num_classes, builder)
    timesteps = blocks.check_timesteps(timesteps, builder)
    mult = blocks.check_width_multiplier(width_multiplier, builder)
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise ValueError(
            f"{builder}: input_shape must be (num_points, channels), e.g. (1024, 3), got "
            f"{input_shape!r}."
        )
    if input_transform and shape[1] != 3:
        raise ValueError(
            f"{builder}: the input transform rotates xyz points, so input_shape must be "
            f"(num_points, 3), got {shape}. For points with extra channels (normals) set "
            "input_transform=False."
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"{builder}: dropout must be in [0, 1), got {dropout!r}.")
    make_neuron = blocks.neuron_factory(
        suggest=blocks.builder_arguments(spiking_pointnet), **neuron_options
    )
    reversal = blocks.ReversalPoint(reverse_at, ["input", "stem", "stage1", "stage2"], builder)

    x = keras.Input(shape, name="points")
    h = layers.RepeatTime(timesteps, name="repeat_time")(x)
    h = reversal.at("input", h)
    if input_transform:
        # Before any neuron the repeated cloud is constant over time, so its time average is
        # the cloud; after an input reversal that is the batch-doubled cloud the T-Net sees.
        points = x if reverse_at != "input" else layers.FiringRate(name="points_static")(h)
        h = _input_transform(
            points, h, timesteps=timesteps, num_points=shape[0], make_neuron=make_neuron, mult=mult
        )
    h = _dense_bn(h, blocks.scaled(64, mult), "conv1", "bn1")
    h = make_neuron("sn1")(h)
    h = reversal.at("stem", h)
    h = _dense_bn(h, blocks.scaled(128, mult), "conv2", "bn2")
    h = make_neuron("sn2")(h)
    h = reversal.at("stage1", h)
    h = _dense_bn(h, blocks.scaled(1024, mult), "conv3", "bn3")  # no neuron before the max-pool
    h = blocks.folded(keras.layers.GlobalMaxPooling1D(), "maxpool")(h)  # [B, T, C]
    h = reversal.at("stage2", h)
    h = _dense_bn(h, blocks.scaled(512, mult), "fc1", "fc1_bn")
    h = make_neuron("fc1_sn")(h)
    h = blocks.folded(keras.layers.Dense(blocks.scaled(256, mult)), "fc2")(h)
    if dropout:
        h = blocks.folded(keras.layers.Dropout(dropout), "fc2_dropout")(h)
    h = blocks.batch_norm("fc2_bn")(h)
    h = make_neuron("fc2_sn")(h)
    out = blocks.classifier_head(h, num_classes)
    assert reversal.placed
    return TRTModel(x, out, name=name)
