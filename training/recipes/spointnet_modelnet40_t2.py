"""Spiking PointNet on ModelNet40 (1024 points), T=2 (the paper reports 90.57%).

Needs ModelNet40 (HDF5 release or .off meshes: --data-dir or MODELNET40_DIR) and a GPU.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="spointnet-modelnet40-t2", dataset="modelnet40", architecture="spointnet", timesteps=2,
    epochs=200, batch_size=32, optimizer="adam", learning_rate=1e-3, weight_decay=1e-4,
    schedule="cosine", augment=True, dataset_kwargs=dict(num_points=1024),
    description="Spiking PointNet on ModelNet40, TRT with reversal after the first spiking layer, T=2.",
)
