"""Spiking architectures built from keras_trt layers; every one is a TRTModel.

>>> import keras_trt
>>> keras_trt.models.list_architectures()
['sew_resnet18', ..., 'sresnet18', ..., 'vggsnn']
>>> model = keras_trt.models.build("sresnet19", num_classes=10, timesteps=2)
>>> model.compile("sgd", metrics=["accuracy"], trt=keras_trt.TRTConfig())

Families: :mod:`~keras_trt.models.resnet` (spiking ResNet and SEW-ResNet, ImageNet/CIFAR
stems, ResNet-19/20), :mod:`~keras_trt.models.vgg` (VGG-11-BN, VGGSNN),
:mod:`~keras_trt.models.pointnet` (Spiking PointNet) and :mod:`~keras_trt.models.small`
(the quickstart CNN). Shared pieces live in :mod:`~keras_trt.models.blocks`.
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
