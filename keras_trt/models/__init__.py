"""Spiking architectures built from keras_trt layers; every one is a TRTModel.

>>> import keras_trt
>>> keras_trt.models.list_architectures()
['qkformer_10_384', ..., 'sew_resnet18', ..., 'sresnet18', ..., 'vggsnn']
>>> model = keras_trt.models.build("sresnet19", num_classes=10, timesteps=2)
>>> model.compile("sgd", metrics=["accuracy"], trt=keras_trt.TRTConfig())

Families: :mod:`~keras_trt.models.resnet` (spiking ResNet and SEW-ResNet, ImageNet/CIFAR
stems, ResNet-19/20), :mod:`~keras_trt.models.vgg` (VGG-11-BN, VGGSNN),
:mod:`~keras_trt.models.pointnet` (Spiking PointNet) and :mod:`~keras_trt.models.small`
(the quickstart CNN); the spiking transformers :mod:`~keras_trt.models.spikformer`,
:mod:`~keras_trt.models.spike_driven` (Spike-driven Transformer) and
:mod:`~keras_trt.models.qkformer`, with their token pieces in :mod:`~keras_trt.models.tokens`.
Shared pieces live in :mod:`~keras_trt.models.blocks`.
"""

from keras_trt.models import heads
from keras_trt.models.heads import backbone, freeze_backbone, replace_head
from keras_trt.models.pointnet import spiking_pointnet
from keras_trt.models.registry import (
    Architecture,
    build,
    describe,
    get_architecture,
    list_architectures,
    register,
    unregister,
)
from keras_trt.models.resnet import (
    sew_resnet18,
    sew_resnet34,
    spiking_resnet,
    sresnet18,
    sresnet19,
    sresnet20,
    sresnet34,
)
from keras_trt.models.small import spiking_cnn
from keras_trt.models.vgg import svgg11, vggsnn

register_architecture = register

# Small instances for the tests. They share feature-map shapes (16x16x16, 8x8x32, 4x4x64) so
# that backends compiling per shape (JAX eager) reuse their kernels across architectures.
_IMAGENET_SMALL = dict(input_shape=(64, 64, 3), width_multiplier=0.25, timesteps=2)
_CIFAR_SMALL = dict(input_shape=(16, 16, 3), width_multiplier=0.25, timesteps=2)

for _name, _fn, _what in (
    ("sresnet18", sresnet18, "Spiking ResNet-18"),
    ("sresnet34", sresnet34, "Spiking ResNet-34"),
    ("sew_resnet18", sew_resnet18, "SEW-ResNet-18 (ADD)"),
    ("sew_resnet34", sew_resnet34, "SEW-ResNet-34 (ADD)"),
):
    register(
        _name, _fn, name=_name, small=_IMAGENET_SMALL,
        description=f"{_what}, ImageNet stem (7x7/2 conv + max-pool), 224x224, 1000 classes",
    )
    register(
        f"{_name}_cifar", _fn, name=f"{_name}_cifar", stem="cifar", small=_CIFAR_SMALL,
        description=f"{_what}, CIFAR stem (3x3/1 conv, no max-pool), 32x32, 10 classes",
    )
register(
    "sresnet19", sresnet19, name="sresnet19", small=dict(input_shape=(16, 16, 3), width_multiplier=0.125, timesteps=2),
    description="Spiking ResNet-19 (tdBN/TET CIFAR net: 128-256-512, blocks [3,3,2], fc 256), 32x32",
)
register(
    "sresnet20", sresnet20, name="sresnet20", small=dict(input_shape=(16, 16, 3), width_multiplier=1.0, timesteps=2),
    description="Spiking ResNet-20 (He et al. CIFAR: 16-32-64, blocks [3,3,3]), 32x32",
)
register(
    "svgg11", svgg11, name="svgg11", small=dict(input_shape=(32, 32, 3), width_multiplier=0.125, timesteps=2),
    description="Spiking VGG-11 with BatchNorm, global average pooling, 32x32, 10 classes",
)
register(
    "vggsnn", vggsnn, name="vggsnn", small=dict(input_shape=(16, 16, 2), width_multiplier=0.125, timesteps=2),
    description="VGGSNN for event frames (TET; DVS-CIFAR10 / DVS-Gesture), 48x48x2, T=10",
)
register(
    "spointnet", spiking_pointnet, name="spointnet", small=dict(input_shape=(16, 3), width_multiplier=0.125, timesteps=2),
    description="Spiking PointNet with input T-Net, [B, 1024, 3] points, 40 classes (ModelNet40)",
)
register(
    "spiking_cnn", spiking_cnn, name="spiking_cnn", small=dict(input_shape=(8, 8, 1), widths=(4, 8), timesteps=2),
    description="The quickstart's small spiking CNN for 8x8 digits",
)
del _name, _fn, _what

__all__ = [
    "heads",
    "backbone",
    "replace_head",
    "freeze_backbone",
    "Architecture",
    "build",
    "describe",
    "get_architecture",
    "list_architectures",
    "register",
    "register_architecture",
    "unregister",
    "spiking_resnet",
    "sresnet18",
    "sresnet34",
    "sresnet19",
    "sresnet20",
    "sew_resnet18",
    "sew_resnet34",
    "svgg11",
    "vggsnn",
    "spiking_pointnet",
    "spiking_cnn",
]

from keras_trt.models.sequence import spiking_mlp  # noqa: E402

register(
    "smlp", spiking_mlp, name="smlp", small=dict(input_shape=(6, 5), hidden=(8, 8)),
    description="Spiking MLP for time series [B, T, F] (reversal at the input), e.g. BasicMotions",
)

# Spiking transformers (Spikformer, Spike-driven Transformer, QKFormer): SpikingJelly 2.0's functions
# and the papers' configurations.
from keras_trt.models.qkformer import qkformer, qkformer_10_384, qkformer_10_768  # noqa: E402
from keras_trt.models.spike_driven import (  # noqa: E402
    sdt_2_512_cifar,
    sdt_8_384,
    sdt_8_768,
    spike_driven_transformer,
)
from keras_trt.models.spikformer import (  # noqa: E402
    spikformer,
    spikformer_8_384,
    spikformer_8_768,
    spikformer_cifar10,
    spikformer_s,
    spikformer_ti,
)

# 16 tokens or more (64x64 at patch 16): with fewer, the attention neurons (threshold 0.5 on
# 0.125 * Q K^T V) stay silent in a fresh narrow network.
_TOKENS_SMALL = dict(embed_dims=32, num_heads=2, depths=1, timesteps=2)
for _name, _fn, _small, _what in (
    ("spikformer_ti", spikformer_ti, (64, 64, 3), "Spikformer-Ti (4 blocks, D=256), patch 16, 224x224, 1000 classes"),
    ("spikformer_s", spikformer_s, (64, 64, 3), "Spikformer-S (6 blocks, D=384), patch 16, 224x224, 1000 classes"),
    ("spikformer_8_384", spikformer_8_384, (64, 64, 3), "Spikformer-8-384 (paper, ImageNet), patch 16, 224x224"),
    ("spikformer_8_768", spikformer_8_768, (64, 64, 3), "Spikformer-8-768 (paper, ImageNet), patch 16, 224x224"),
    ("spikformer_cifar10", spikformer_cifar10, (16, 16, 3), "Spikformer-4-384 for CIFAR, patch 4, 32x32, 10 classes"),
    ("sdt_8_384", sdt_8_384, (32, 32, 3), "Spike-driven Transformer-8-384, 224x224, 1000 classes"),
    ("sdt_8_768", sdt_8_768, (32, 32, 3), "Spike-driven Transformer-8-768 (paper, ImageNet), 224x224"),
    ("sdt_2_512_cifar", sdt_2_512_cifar, (16, 16, 3), "Spike-driven Transformer-2-512 for CIFAR, patch 4, 32x32"),
):
    register(_name, _fn, name=_name, small=dict(_TOKENS_SMALL, input_shape=_small), description=_what)
for _name, _fn, _what in (
    ("qkformer_10_384", qkformer_10_384, "QKFormer-10-384 (HST-10-384), 3 stages 96-192-384, 224x224, 1000 classes"),
    ("qkformer_10_768", qkformer_10_768, "QKFormer-10-768 (HST-10-768, paper), 224x224, 1000 classes"),
):
    register(
        _name, _fn, name=_name, description=_what,
        small=dict(input_shape=(64, 64, 3), embed_dims=32, num_heads=(1, 2, 2), depths=(1, 1, 1), timesteps=2),
    )
del _name, _fn, _small, _what
__all__ += [
    "spikformer", "spikformer_ti", "spikformer_s", "spikformer_cifar10", "spikformer_8_384", "spikformer_8_768",
    "spike_driven_transformer", "sdt_8_384", "sdt_8_768", "sdt_2_512_cifar",
    "qkformer", "qkformer_10_384", "qkformer_10_768",
]
