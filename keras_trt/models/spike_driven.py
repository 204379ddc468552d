"""The Spike-driven Transformer (Yao et al., NeurIPS 2023), as SpikingJelly 2.0's
``model.spike_driven_transformer``.

- **Patch stem** (``patch_embed``): three 3x3 conv-BN-LIF stages of widths ``D/8, D/4, D/2``,
  each optionally followed by a max-pool (on spikes), then conv-BN of width D (optionally
  max-pooled, on the BN output); the relative position embedding LIF-conv-BN is added to it
  (``pooling_stat``, four 0/1 flags: ``"1111"`` for 224x224 ImageNet, ``"0011"`` for CIFAR).
  Every conv but the position embedding's has a bias.
- **Blocks** with **membrane shortcuts**: the residual stream is real-valued (membrane
  potentials); every branch starts with a neuron. Spike-driven self-attention (SDSA):
  ``s = LIF(x)``, Q, K, V = LIF(BN(Dense(s))) (no bias), ``kv = LIF_attn(sum_tokens K * V)``
  per channel (threshold ``attn_v_threshold = 0.5``), ``x + BN(Dense(Q * kv))`` (Dense with
  bias); no multiplication of two real values anywhere, only masks and sums of spikes. MLP:
  ``x + BN(Dense(LIF(BN(Dense(LIF(x))))))`` (Dense with bias, hidden ``mlp_ratio * D``).
- **Head**: a LIF (``head_lif``) on the token mean at each step, then the classifier on its
  firing rate. The TRT star product acts on these spike rates.

TRT: the reversal goes after the patch stem by default; ``"input"`` or ``"blockN"``.

Neuron defaults as in the Spikformer (:mod:`keras_trt.models.spikformer`): SpikingJelly's
functions use ``detach_reset=False`` outside the attention, which changes gradients, not the
forward pass; pass ``detach_reset=False`` to train exactly as they do.
"""

from __future__ import annotations

import keras

from keras_trt import layers
from keras_trt.models import blocks, tokens
from keras_trt.trt import TRTModel


def spike_driven_transformer(
    *,
    embed_dims=384,
    num_heads=8,
    depths=8,
    mlp_ratio=4.0,
    pooling_stat="1111",
    num_classes=None,
    timesteps=4,
    input_shape=None,
    reverse_at="stem",
    attn_v_threshold=0.5,
    width_multiplier=1.0,
    name="spike_driven_transformer",
    **neuron_options,
):
    """A Spike-driven Transformer; :func:`sdt_8_384` and the others call this.

    Args:
        embed_dims: the token width D (divisible by 8 and ``num_heads``).
        num_heads: heads (SDSA is per channel, so they change no number; kept for the config).
        depths: transformer blocks.
        mlp_ratio: hidden width of the MLPs over D.
        pooling_stat: four ``"0"``/``"1"`` flags: max-pool after stem stage 1..4. Default
            ``"1111"`` (downsampling 16) gives 224x224x3 inputs and 1000 classes; any other gives
            32x32x3 and 10.
        num_classes, timesteps, input_shape, width_multiplier, reverse_at, attn_v_threshold: as
            :func:`~keras_trt.models.spikformer` (``reverse_at``: ``"input"``, ``"stem"`` or
            ``"blockN"``; neuron options likewise).

    >>> import keras_trt
    >>> model = keras_trt.models.spike_driven_transformer(embed_dims=32, num_heads=2, depths=1,
    ...     pooling_stat="0011", input_shape=(16, 16, 3), num_classes=10, timesteps=2)
    """
    builder = name
    if not isinstance(pooling_stat, str) or len(pooling_stat) != 4 or set(pooling_stat) - set("01"):
        raise ValueError(f"{builder}: pooling_stat must be four '0'/'1' flags such as '1111' or '0011', got {pooling_stat!r}.")
    pools = pooling_stat.count("1")
    default_shape, default_classes = ((224, 224, 3), 1000) if pooling_stat == "1111" else ((32, 32, 3), 10)
    num_classes = blocks.check_num_classes(default_classes if num_classes is None else num_classes, builder)
    timesteps = blocks.check_timesteps(timesteps, builder)
    depths = tokens.check_depth(depths, builder)
    mlp_ratio = tokens.check_mlp_ratio(mlp_ratio, builder)
    dim = tokens.embed_width(embed_dims, width_multiplier, tokens.heads_quantum(8, num_heads), builder)
    input_shape = blocks.check_image_shape(
        default_shape if input_shape is None else input_shape, builder, min_size=2**pools,
        why=f"the patch stem downsamples by {2**pools}", fix="Use larger images or fewer '1's in pooling_stat.",
    )
    make, make_attention = tokens.neuron_factories(neuron_options, attn_v_threshold, spike_driven_transformer)
    reversal = blocks.ReversalPoint(reverse_at, ["input", "stem"] + [f"block{i + 1}" for i in range(depths)], builder)
    init = "kaiming"

    x = keras.Input(input_shape, name="images")
    h = layers.RepeatTime(timesteps, name="repeat_time")(x)
    h = reversal.at("input", h)
    for index, width in enumerate((dim // 8, dim // 4, dim // 2)):
        prefix = f"patch_embed_stages_{index}"
        h = tokens.conv(h, width, f"{prefix}_0", init=init, use_bias=True)
        h = blocks.batch_norm(f"{prefix}_1")(h)
        h = make(f"{prefix}_2")(h)
        if pooling_stat[index] == "1":
            h = tokens.max_pool(h, f"{prefix}_3")
    h = tokens.conv(h, dim, "patch_embed_final_stage_0", init=init, use_bias=True)
    h = blocks.batch_norm("patch_embed_final_stage_1")(h)
    if pooling_stat[3] == "1":
        h = tokens.max_pool(h, "patch_embed_final_stage_2")
    identity = h
    h = make("patch_embed_final_lif")(h)
    h = tokens.conv(h, dim, "patch_embed_rpe_conv", init=init, use_bias=False)
    h = blocks.batch_norm("patch_embed_rpe_bn")(h)
    h = keras.layers.Add(name="patch_embed_add")([h, identity])
    h = tokens.to_tokens(h, "patch_embed_tokens")
    h = reversal.at("stem", h)
    hidden = int(dim * mlp_ratio)
    for index in range(depths):
        prefix = f"blocks_{index}"
        h = _sdsa(h, f"{prefix}_attn", make, make_attention, init)
        h = _mlp(h, hidden, f"{prefix}_mlp", make, init)
        h = reversal.at(f"block{index + 1}", h)
    h = tokens.token_mean(h, "token_mean")
    h = make("head_lif")(h)
    out = blocks.classifier_head(h, num_classes)
    assert reversal.placed
    return TRTModel(x, out, name=name)


def _sdsa(h, prefix, make, make_attention, init):
    channels = h.shape[-1]
    s = make(f"{prefix}_shortcut_lif")(h)
    qkv = []
    for part in "qkv":
        p = tokens.dense(s, channels, f"{prefix}_{part}_conv", init=init, use_bias=False)
        p = blocks.batch_norm(f"{prefix}_{part}_bn")(p)
        qkv.append(make(f"{prefix}_{part}_lif")(p))
    q, k, v = qkv
    kv = keras.layers.Concatenate(name=f"{prefix}_kv_concat")([k, v])
    kv = blocks.folded(layers.TokenProductSum(), f"{prefix}_kv_sum")(kv)
    kv = make_attention(f"{prefix}_attn_lif")(kv)
    a = keras.layers.Multiply(name=f"{prefix}_mask")([q, kv])
    a = tokens.dense(a, channels, f"{prefix}_proj_conv", init=init, use_bias=True)
    a = blocks.batch_norm(f"{prefix}_proj_bn")(a)
    return keras.layers.Add(name=f"{prefix}_add")([a, h])


def _mlp(h, hidden, prefix, make, init):
    channels = h.shape[-1]
    identity = h
    m = make(f"{prefix}_lif1")(h)
    m = tokens.dense(m, hidden, f"{prefix}_fc1", init=init, use_bias=True)
    m = blocks.batch_norm(f"{prefix}_bn1")(m)
    if hidden == channels:  # SpikingJelly's _MLP: a second shortcut when the widths agree
        m = keras.layers.Add(name=f"{prefix}_add1")([m, identity])
        identity = m
    m = make(f"{prefix}_lif2")(m)
    m = tokens.dense(m, channels, f"{prefix}_fc2", init=init, use_bias=True)
    m = blocks.batch_norm(f"{prefix}_bn2")(m)
    return keras.layers.Add(name=f"{prefix}_add")([m, identity])


def sdt_8_384(**kwargs):
    """Spike-driven Transformer-8-384 (SpikingJelly ``sdt_8_384``; the paper's smallest ImageNet
    network): 8 blocks, D=384, 8 heads, pooling ``"1111"``, 224x224x3, 1000 classes;
    16,816,744 parameters.

    >>> import keras_trt
    >>> model = keras_trt.models.sdt_8_384(timesteps=4)
    """
    kwargs.setdefault("name", "sdt_8_384")
    return spike_driven_transformer(**{"embed_dims": 384, "num_heads": 8, "depths": 8, **kwargs})


def sdt_8_768(**kwargs):
    """Spike-driven Transformer-8-768, the paper's largest ImageNet network (77.07 % at T=4):
    8 blocks, D=768, 8 heads, pooling ``"1111"``, 224x224x3, 1000 classes; 66,340,072 parameters.

    >>> import keras_trt
    >>> keras_trt.models.get_architecture('sdt_8_768').defaults["name"]    # built on demand
    'sdt_8_768'
    """
    kwargs.setdefault("name", "sdt_8_768")
    return spike_driven_transformer(**{"embed_dims": 768, "num_heads": 8, "depths": 8, **kwargs})


def sdt_2_512_cifar(**kwargs):
    """Spike-driven Transformer-2-512 for CIFAR: 2 blocks, D=512, 8 heads, pooling ``"0011"``
    (patch 4), 32x32x3, 10 classes; 10,234,378 parameters.

    >>> import keras_trt
    >>> model = keras_trt.models.sdt_2_512_cifar(num_classes=100)
    """
    kwargs.setdefault("name", "sdt_2_512_cifar")
    return spike_driven_transformer(
        **{"embed_dims": 512, "num_heads": 8, "depths": 2, "pooling_stat": "0011", **kwargs}
    )
