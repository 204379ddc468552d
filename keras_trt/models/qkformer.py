"""QKFormer (Zhou et al., NeurIPS 2024), as SpikingJelly 2.0's ``model.qkformer``.

A hierarchical spiking transformer of three stages at widths ``D/4, D/2, D`` and resolutions
``H/4, H/8, H/16``:

- **Patch embeddings** with spiking shortcuts. ``patch_embed1``: conv-BN-max-pool-LIF (D/8),
  conv-BN-max-pool-LIF (D/4), conv-BN-LIF, plus a 1x1/2 conv-BN-LIF shortcut from the first
  stage's spikes. ``patch_embed2`` / ``patch_embed3``: conv-BN-max-pool-LIF, conv-BN-LIF, plus a
  1x1/2 conv-BN-LIF shortcut. Convs have biases; max-pools act on BN outputs.
- **Stages 1 and 2: Q-K token attention** blocks, ``x + QKTA(x)`` then ``x + MLP(x)``: Q, K =
  LIF(BN(Dense(x))) (one 2D-wide Dense, no bias), per token and head the sum of the head's Q
  spikes goes through the attention neuron (threshold ``attn_v_threshold = 0.5``) and masks
  that head's K; Dense-BN-LIF. Linear in the tokens: no token-by-token matrix.
- **Stage 3: spiking self-attention** blocks (Spikformer's SSA, scale 0.125).
- MLPs: Dense-BN-LIF twice (Dense with bias). **Head**: the token mean per step, then the
  classifier on its time average; the TRT star product acts on these pooled token rates.

TRT: the reversal goes after ``patch_embed1`` by default (``reverse_at="stem"``); ``"input"``,
``"stage1"``, ``"stage2"``, ``"stage3"`` (after that stage's blocks) select other points.
Neuron defaults as :mod:`keras_trt.models.spike_driven` (SpikingJelly's functions use
``detach_reset=False`` outside the attention: the same forward pass).
"""

from __future__ import annotations

import keras

from keras_trt import layers
from keras_trt.models import blocks, tokens
from keras_trt.trt import TRTModel


def qkformer(
    *,
    embed_dims=384,
    num_heads=(6, 6, 6),
    depths=(1, 2, 7),
    mlp_ratio=4.0,
    num_classes=None,
    timesteps=4,
    input_shape=None,
    reverse_at="stem",
    attn_v_threshold=0.5,
    scale=0.125,
    width_multiplier=1.0,
    name="qkformer",
    **neuron_options,
):
    """A QKFormer; :func:`qkformer_10_384` and the others call this.

    Args:
        embed_dims: the last stage's width D (stage widths D/4, D/2, D; divisible by 8 and by
            ``4 * num_heads[0]``, ``2 * num_heads[1]``, ``num_heads[2]``).
        num_heads: heads per stage (three integers).
        depths: blocks per stage (three non-negative integers; 10 in all for QKFormer-10).
        mlp_ratio, num_classes, timesteps, input_shape, width_multiplier, attn_v_threshold: as
            :func:`~keras_trt.models.spikformer` (defaults 1000 classes, 224x224x3 inputs;
            ``scale`` and the neuron options likewise).
        reverse_at: ``"input"``, ``"stem"`` (after ``patch_embed1``, default), ``"stage1"``,
            ``"stage2"`` or ``"stage3"``.

    >>> import keras_trt
    >>> model = keras_trt.models.qkformer(embed_dims=32, num_heads=(1, 2, 2), depths=(1, 1, 1),
    ...     input_shape=(32, 32, 3), num_classes=10, timesteps=2)
    """
    builder = name
    num_heads, depths = tuple(num_heads), tuple(depths)
    if len(num_heads) != 3 or len(depths) != 3:
        raise ValueError(f"{builder}: num_heads and depths take one value per stage (three each), got {num_heads} and {depths}.")
    depths = tuple(tokens.check_depth(d, builder) for d in depths)
    num_classes = blocks.check_num_classes(1000 if num_classes is None else num_classes, builder)
    timesteps = blocks.check_timesteps(timesteps, builder)
    mlp_ratio = tokens.check_mlp_ratio(mlp_ratio, builder)
    quantum = tokens.heads_quantum(8, 4 * num_heads[0], 2 * num_heads[1], num_heads[2])
    dim = tokens.embed_width(embed_dims, width_multiplier, quantum, builder)
    input_shape = blocks.check_image_shape(
        (224, 224, 3) if input_shape is None else input_shape, builder, min_size=16,
        why="the patch embeddings downsample by 16", fix="Use larger images (32x32 or more).",
    )
    make, make_attention = tokens.neuron_factories(neuron_options, attn_v_threshold, qkformer)
    reversal = blocks.ReversalPoint(reverse_at, ["input", "stem", "stage1", "stage2", "stage3"], builder)
    dims = (dim // 4, dim // 2, dim)

    x = keras.Input(input_shape, name="images")
    h = layers.RepeatTime(timesteps, name="repeat_time")(x)
    h = reversal.at("input", h)
    h = _patch_embed_init(h, dims[0], make)
    for stage in (1, 2, 3):
        if stage > 1:
            h = tokens.to_image(h, *grid, name=f"patch_embed{stage}_image")
            h = _patch_embed_stage(h, dims[stage - 1], f"patch_embed{stage}", make)
        grid = h.shape[2:4]
        h = tokens.to_tokens(h, f"patch_embed{stage}_tokens")
        if stage == 1:
            h = reversal.at("stem", h)
        hidden = int(dims[stage - 1] * mlp_ratio)
        for index in range(depths[stage - 1]):
            prefix = f"stage{stage}_{index}"
            if stage == 3:
                a = tokens.self_attention(h, f"{prefix}_attn", num_heads[2], scale, make, make_attention, "kaiming")
            else:
                a = _token_attention(h, f"{prefix}_attn", num_heads[stage - 1], make, make_attention)
            h = keras.layers.Add(name=f"{prefix}_attn_add")([h, a])
            m = tokens.mlp(h, hidden, f"{prefix}_mlp", make, init="kaiming", use_bias=True,
                           names=("fc1", "bn1", "lif1", "fc2", "bn2", "lif2"))
            h = keras.layers.Add(name=f"{prefix}_mlp_add")([h, m])
        h = reversal.at(f"stage{stage}", h)
    h = tokens.token_mean(h, "token_mean")
    out = blocks.classifier_head(h, num_classes)
    assert reversal.placed
    return TRTModel(x, out, name=name)


def _conv_bn(h, width, prefix, conv, bn, kernel_size=3, strides=1):
    h = tokens.conv(h, width, f"{prefix}_{conv}", init="kaiming", use_bias=True, kernel_size=kernel_size, strides=strides)
    return blocks.batch_norm(f"{prefix}_{bn}")(h)


def _shortcut(h, width, prefix, make):
    s = _conv_bn(h, width, prefix, "shortcut_0", "shortcut_1", kernel_size=1, strides=2)
    return make(f"{prefix}_shortcut_2")(s)


def _patch_embed_init(h, width, make):
    p = "patch_embed1"
    h = _conv_bn(h, width // 2, p, "conv1", "bn1")
    h = tokens.max_pool(h, f"{p}_pool1")
    h = make(f"{p}_lif1")(h)
    identity = h
    h = _conv_bn(h, width, p, "conv2", "bn2")
    h = tokens.max_pool(h, f"{p}_pool2")
    h = make(f"{p}_lif2")(h)
    h = _conv_bn(h, width, p, "conv3", "bn3")
    h = make(f"{p}_lif3")(h)
    return keras.layers.Add(name=f"{p}_add")([h, _shortcut(identity, width, p, make)])


def _patch_embed_stage(h, width, p, make):
    identity = h
    h = _conv_bn(h, width, p, "conv1", "bn1")
    h = tokens.max_pool(h, f"{p}_pool")
    h = make(f"{p}_lif1")(h)
    h = _conv_bn(h, width, p, "conv2", "bn2")
    h = make(f"{p}_lif2")(h)
    return keras.layers.Add(name=f"{p}_add")([h, _shortcut(identity, width, p, make)])


def _token_attention(h, prefix, num_heads, make, make_attention):
    channels = h.shape[-1]
    qk = tokens.dense(h, 2 * channels, f"{prefix}_qk_conv_bn_0", init="kaiming", use_bias=False)
    qk = blocks.batch_norm(f"{prefix}_qk_conv_bn_1")(qk)
    qk = make(f"{prefix}_qk_lif")(qk)
    gate = blocks.folded(layers.QKTokenSum(num_heads), f"{prefix}_q_sum")(qk)
    gate = make_attention(f"{prefix}_attn_lif")(gate)
    a = keras.layers.Concatenate(name=f"{prefix}_gate_concat")([gate, qk])
    a = blocks.folded(layers.QKTokenGate(num_heads), f"{prefix}_gate")(a)
    a = tokens.dense(a, channels, f"{prefix}_proj_conv_bn_0", init="kaiming", use_bias=False)
    a = blocks.batch_norm(f"{prefix}_proj_conv_bn_1")(a)
    return make(f"{prefix}_proj_lif")(a)


def qkformer_10_384(**kwargs):
    """QKFormer-10-384 (SpikingJelly ``qkformer_10_384``; the paper's HST-10-384 for
    ImageNet): stages of 1, 2, 7 blocks at widths 96-192-384, 6 heads each, 224x224x3,
    1000 classes; 16,472,584 parameters.

    >>> import keras_trt
    >>> model = keras_trt.models.qkformer_10_384(timesteps=4)
    """
    kwargs.setdefault("name", "qkformer_10_384")
    return qkformer(**{"embed_dims": 384, "num_heads": (6, 6, 6), "depths": (1, 2, 7), **kwargs})


def qkformer_10_768(**kwargs):
    """QKFormer-10-768, the paper's largest ImageNet network (HST-10-768, 84.22 % at T=4):
    stages of 1, 2, 7 blocks at widths 192-384-768, 12 heads each, 224x224x3, 1000 classes;
    64,960,552 parameters.

    >>> import keras_trt
    >>> keras_trt.models.get_architecture('qkformer_10_768').defaults["name"]    # built on demand
    'qkformer_10_768'
    """
    kwargs.setdefault("name", "qkformer_10_768")
    return qkformer(**{"embed_dims": 768, "num_heads": (12, 12, 12), "depths": (1, 2, 7), **kwargs})
