"""Spiking MLP on sktime's JapaneseVowels (12 LPC cepstrum channels, 9 speakers), T=16.

Each utterance (7 to 29 frames) is resampled to 16 steps; the reversal is at the input, so the
reversed branch hears every utterance backwards. 270 train / 370 test recordings.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="smlp-japanesevowels-t16", dataset="japanese_vowels", architecture="smlp", timesteps=16,
    epochs=30, batch_size=32, optimizer="adam", learning_rate=3e-3, schedule="cosine",
    runs_here=True, build=dict(hidden=(64, 64)),
    description="Spiking MLP (64-64) on JapaneseVowels (16 steps x 12 channels), TRT with input "
    "reversal.",
)
