"""Spiking MLP on sktime's BasicMotions (6-axis smartwatch recordings of 4 activities), T=20.

The 100 samples of each recording are averaged into 20 steps; the reversal is at the input, so
the reversed branch sees every recording played backwards. 40 train / 40 test recordings.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="smlp-basicmotions-t20", dataset="basic_motions", architecture="smlp", timesteps=20,
    epochs=120, batch_size=8, optimizer="adam", learning_rate=3e-3, schedule="cosine",
    runs_here=True, build=dict(hidden=(64, 64)),
    description="Spiking MLP (64-64) on BasicMotions (20 steps x 6 channels), TRT with input reversal.",
)
