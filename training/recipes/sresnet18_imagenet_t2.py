"""Spiking ResNet-18 on ImageNet-1k, T=2. Needs ImageNet and GPUs (see sresnet34_imagenet_t2)."""

from training.recipe import Recipe

RECIPE = Recipe(
    name="sresnet18-imagenet-t2", dataset="imagenet", architecture="sresnet18", timesteps=2,
    epochs=100, batch_size=256, optimizer="sgd", learning_rate=0.1, momentum=0.9,
    weight_decay=1e-4, schedule="cosine", warmup_epochs=5, augment=True,
    description="Spiking ResNet-18 (ImageNet stem), TRT with reversal after the stem, T=2.",
)
