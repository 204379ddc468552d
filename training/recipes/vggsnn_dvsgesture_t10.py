"""VGGSNN on DVS128 Gesture, 48x48 frames, T=10, reversal at the input.

Needs the DVS128 Gesture AEDAT files (manual dir: --data-dir or EVENT_DATA_DIR) and a GPU.
"""

from training.recipe import Recipe

RECIPE = Recipe(
    name="vggsnn-dvsgesture-t10", dataset="dvs_gesture", architecture="vggsnn", timesteps=10,
    epochs=200, batch_size=16, optimizer="sgd", learning_rate=0.1, momentum=0.9,
    weight_decay=5e-4, schedule="cosine", build=dict(reverse_at="input"),
    description="VGGSNN on DVS128 Gesture (48x48, 10 frames), TRT with input reversal.",
)
