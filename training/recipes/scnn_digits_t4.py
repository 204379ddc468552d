"""The quickstart's small spiking CNN on scikit-learn's 8x8 digits, T=4 (runs on a CPU in seconds)."""

from training.recipe import Recipe

RECIPE = Recipe(
    name="scnn-digits-t4", dataset="digits", architecture="spiking_cnn", timesteps=4,
    epochs=20, batch_size=64, optimizer="adam", learning_rate=3e-3, schedule="cosine",
    runs_here=True,
    description="Small spiking CNN (16-32 channels) on scikit-learn's digits, TRT with reversal "
    "after the stem, T=4.",
)
