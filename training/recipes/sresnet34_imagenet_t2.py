"""Spiking ResNet-34 on ImageNet-1k, T=2 (the paper's headline setting: 74.77% top-1 reported).

Needs the ImageNet tarballs (tfds ``imagenet2012`` manual dir: --data-dir or IMAGENET_MANUAL_DIR)
and GPUs; hyper-parameters are our reading of common SNN ImageNet recipes, not the paper's text.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="sresnet34-imagenet-t2", dataset="imagenet", architecture="sresnet34", timesteps=2,
    epochs=100, batch_size=256, optimizer="sgd", learning_rate=0.1, momentum=0.9,
    weight_decay=1e-4, schedule="cosine", warmup_epochs=5, augment=True,
    description="Spiking ResNet-34 (ImageNet stem), TRT with reversal after the stem, T=2.",
)
