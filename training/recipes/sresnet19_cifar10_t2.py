"""Spiking ResNet-19 on CIFAR-10, T=2. Needs CIFAR-10 prepared by tensorflow-datasets
(--data-dir or TFDS_DATA_DIR) and a GPU; settings follow the TET/tdBN CIFAR recipes (our reading)."""

from training.recipe import Recipe

RECIPE = Recipe(
    name="sresnet19-cifar10-t2", dataset="cifar10", architecture="sresnet19", timesteps=2,
    epochs=300, batch_size=128, optimizer="sgd", learning_rate=0.1, momentum=0.9,
    weight_decay=5e-4, schedule="cosine", augment=True,
    description="Spiking ResNet-19 on CIFAR-10, TRT with reversal after the stem, T=2.",
)
