"""Spiking PointNet on MNIST digits as 2-D point clouds (128 points per digit), T=2.

30 epochs on a 2-core CPU (about 25 minutes); the preset committed under zoo/spointnet-mnistpoints-t2
scored 91.6 % held-out, five retrainings (seeds 0-4) 91.8-92.9 %, mean 92.26 %.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="spointnet-mnistpoints-t2", dataset="mnist_points", architecture="spointnet",
    timesteps=2, epochs=30, batch_size=64, optimizer="adam", learning_rate=3e-3,
    weight_decay=1e-4, schedule="cosine", augment=True, runs_here=True,
    build=dict(width_multiplier=0.5, input_transform=False), dataset_kwargs=dict(num_points=128),
    description="Spiking PointNet (1/2 width, no T-Net) on MNIST point clouds (128 points), TRT "
    "with reversal after the first spiking layer, T=2.",
)
