"""Spiking ResNet-19 on CIFAR-100, T=2. Needs CIFAR-100 (tensorflow-datasets) and a GPU."""

from training.recipe import Recipe

RECIPE = Recipe(
    name="sresnet19-cifar100-t2", dataset="cifar100", architecture="sresnet19", timesteps=2,
    epochs=300, batch_size=128, optimizer="sgd", learning_rate=0.1, momentum=0.9,
    weight_decay=5e-4, schedule="cosine", augment=True,
    description="Spiking ResNet-19 on CIFAR-100, TRT with reversal after the stem, T=2.",
)
