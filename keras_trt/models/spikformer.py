"""Spikformer (Zhou et al., ICLR 2023), as SpikingJelly 2.0's ``model.spikformer``.

- **Spiking patch splitting** (``patch_embed``): four 3x3 conv-BN(-max-pool)-LIF stages of
  widths ``D/8, D/4, D/2, D`` (a patch size of ``2^k`` max-pools in the last ``k`` stages:
  SpikingJelly's 4 pools in stages 3-4, 16 in all four; pooling on the BN output, before the
  neuron), then the relative position embedding, a conv-BN-LIF whose spikes are added to its
  input.
- **Blocks** on the ``L = H/p * W/p`` tokens: ``x + SSA(x)`` then ``x + MLP(x)``. Spiking
  self-attention without softmax: Q, K, V = LIF(BN(Dense(x))) (one 3D-wide Dense), per head
  ``scale * Q K^T V`` (``scale = 0.125``), the attention neuron (threshold
  ``attn_v_threshold = 0.5``), Dense-BN-LIF. MLP: Dense-BN-LIF (``mlp_ratio * D``), Dense-BN-LIF.
  No layer has a bias but the classifier.
- **Head**: the mean over tokens at each step, then the classifier on its time average
  (SpikingJelly's per-step ``head`` averaged over T). The TRT star product acts on these pooled
  token rates.

TRT: the reversal goes after the patch stem by default (``reverse_at="stem"``); ``"input"`` or
``"blockN"`` (after block N) select other points.
"""

from __future__ import annotations

import keras

from keras_trt import layers
from keras_trt.models import blocks, tokens
from keras_trt.trt import TRTModel

_PATCH_SIZES = (1, 2, 4, 8, 16)


def spikformer(
    *,
    embed_dims=384,
    num_heads=12,
    depths=4,
    mlp_ratio=4.0,
    patch_size=4,
    num_classes=None,
    timesteps=4,
    input_shape=None,
    reverse_at="stem",
    attn_v_threshold=0.5,
    scale=0.125,
    width_multiplier=1.0,
    name="spikformer",
    **neuron_options,
):
    """A Spikformer; the named builders (:func:`spikformer_cifar10`, ...) call this.

    Args:
        embed_dims: the token width D (divisible by 8 and by ``num_heads``).
        num_heads: attention heads.
        depths: transformer blocks.
        mlp_ratio: hidden width of the MLPs over D.
        patch_size: 1, 2, 4, 8 or 16: the stem max-pools ``log2(patch_size)`` times (in its last
            stages). Default 4 gives 32x32x3 inputs and 10 classes, 16 gives 224x224x3 and 1000.
        num_classes, timesteps, input_shape, width_multiplier: as every builder
            (``width_multiplier`` scales D, rounded to a multiple of ``lcm(8, num_heads)``).
        reverse_at: ``"input"``, ``"stem"`` (default) or ``"block1"`` ... ``"blockN"``.
        attn_v_threshold: threshold of the attention neuron (0.5 in the paper and SpikingJelly).
        scale: the attention's constant factor (0.125).
        **neuron_options: as :func:`keras_trt.models.blocks.neuron_factory` (defaults here:
            SpikingJelly's LIFNode, tau 2, sigmoid surrogate, ``detach_reset=True``); they apply
            to every neuron, the attention neuron with ``attn_v_threshold``.

    >>> import keras_trt
    >>> model = keras_trt.models.spikformer(embed_dims=32, num_heads=2, depths=1,
    ...     input_shape=(16, 16, 3), num_classes=10, timesteps=2)
    >>> keras_trt.models.heads.backbone(model).output_shape       # pooled tokens [B, T, D]
    (None, 2, 32)
    """
    builder = name
    if patch_size not in _PATCH_SIZES:
        raise ValueError(f"{builder}: patch_size must be one of {_PATCH_SIZES} (a power of 2 up to 16), got {patch_size!r}.")
    pools = patch_size.bit_length() - 1
    default_shape, default_classes = ((224, 224, 3), 1000) if patch_size == 16 else ((32, 32, 3), 10)
    num_classes = blocks.check_num_classes(default_classes if num_classes is None else num_classes, builder)
    timesteps = blocks.check_timesteps(timesteps, builder)
    depths = tokens.check_depth(depths, builder)
    mlp_ratio = tokens.check_mlp_ratio(mlp_ratio, builder)
    dim = tokens.embed_width(embed_dims, width_multiplier, tokens.heads_quantum(8, num_heads), builder)
    input_shape = blocks.check_image_shape(
        default_shape if input_shape is None else input_shape, builder, min_size=patch_size,
        why=f"the patch stem downsamples by {patch_size}", fix="Use larger images or a smaller patch_size.",
    )
    make, make_attention = tokens.neuron_factories(neuron_options, attn_v_threshold, spikformer)
    reversal = blocks.ReversalPoint(reverse_at, ["input", "stem"] + [f"block{i + 1}" for i in range(depths)], builder)

    x = keras.Input(input_shape, name="images")
    h = layers.RepeatTime(timesteps, name="repeat_time")(x)
    h = reversal.at("input", h)
    for index, width in enumerate((dim // 8, dim // 4, dim // 2, dim)):
        prefix = f"patch_embed_stages_{index}"
        h = _conv_bn(h, width, f"{prefix}_conv_bn")
        if index >= 4 - pools:
            h = tokens.max_pool(h, f"{prefix}_conv_bn_block_2")
        h = make(f"{prefix}_neuron")(h)
    residual = h
    h = _conv_bn(h, dim, "patch_embed_positional_encoding_conv_bn")
    h = make("patch_embed_positional_encoding_neuron")(h)
    h = keras.layers.Add(name="patch_embed_add")([h, residual])
    h = tokens.to_tokens(h, "patch_embed_tokens")
    h = reversal.at("stem", h)
    hidden = int(dim * mlp_ratio)
    for index in range(depths):
        prefix = f"blocks_{index}"
        a = tokens.self_attention(h, f"{prefix}_attn", num_heads, scale, make, make_attention, "spikformer")
        h = keras.layers.Add(name=f"{prefix}_attn_add")([h, a])
        m = tokens.mlp(h, hidden, f"{prefix}_mlp", make, init="spikformer", use_bias=False,
                       names=("fc1_0", "fc1_1", "neuron1", "fc2_0", "fc2_1", "neuron2"))
        h = keras.layers.Add(name=f"{prefix}_mlp_add")([h, m])
        h = reversal.at(f"block{index + 1}", h)
    h = tokens.token_mean(h, "token_mean")
    out = blocks.classifier_head(h, num_classes)
    assert reversal.placed
    return TRTModel(x, out, name=name)


def _conv_bn(h, width, prefix):
    h = tokens.conv(h, width, f"{prefix}_block_0", init="spikformer", use_bias=False)
    return blocks.batch_norm(f"{prefix}_block_1")(h)


def spikformer_ti(**kwargs):
    """Spikformer-Ti (SpikingJelly ``spikformer_ti``): 4 blocks, D=256, 8 heads, patch 16,
    224x224x3, 1000 classes; 4,400,392 parameters.

    >>> import keras_trt
    >>> model = keras_trt.models.spikformer_ti(timesteps=4)
    """
    kwargs.setdefault("name", "spikformer_ti")
    return spikformer(**{"embed_dims": 256, "num_heads": 8, "depths": 4, "patch_size": 16, **kwargs})


def spikformer_s(**kwargs):
    """Spikformer-S (SpikingJelly ``spikformer_s``): 6 blocks, D=384, 12 heads, patch 16,
    224x224x3, 1000 classes; 13,244,824 parameters.

    >>> import keras_trt
    >>> model = keras_trt.models.spikformer_s(timesteps=4)
    """
    kwargs.setdefault("name", "spikformer_s")
    return spikformer(**{"embed_dims": 384, "num_heads": 12, "depths": 6, "patch_size": 16, **kwargs})


def spikformer_cifar10(**kwargs):
    """Spikformer-4-384 for CIFAR (SpikingJelly ``spikformer_cifar10``, the paper's CIFAR
    network): 4 blocks, D=384, 12 heads, patch 4, 32x32x3, 10 classes; 9,310,906 parameters.

    >>> import keras_trt
    >>> model = keras_trt.models.spikformer_cifar10(num_classes=100, timesteps=4)
    """
    kwargs.setdefault("name", "spikformer_cifar10")
    return spikformer(**{"embed_dims": 384, "num_heads": 12, "depths": 4, "patch_size": 4, **kwargs})


def spikformer_8_384(**kwargs):
    """Spikformer-8-384, the paper's smallest ImageNet network: 8 blocks, D=384, 12 heads, patch
    16, 224x224x3, 1000 classes (SpikingJelly's ``Spikformer`` with those arguments); 16,797,592
    parameters.

    >>> import keras_trt
    >>> model = keras_trt.models.spikformer_8_384(timesteps=4)
    """
    kwargs.setdefault("name", "spikformer_8_384")
    return spikformer(**{"embed_dims": 384, "num_heads": 12, "depths": 8, "patch_size": 16, **kwargs})


def spikformer_8_768(**kwargs):
    """Spikformer-8-768, the paper's largest ImageNet network (74.81 % at T=4): 8 blocks, D=768,
    12 heads, patch 16, 224x224x3, 1000 classes; 66,301,768 parameters (SpikingJelly's layout).

    >>> import keras_trt
    >>> keras_trt.models.get_architecture('spikformer_8_768').defaults["name"]    # built on demand
    'spikformer_8_768'
    """
    kwargs.setdefault("name", "spikformer_8_768")
    return spikformer(**{"embed_dims": 768, "num_heads": 12, "depths": 8, "patch_size": 16, **kwargs})
