"""training.add_to_zoo writes cards whose build arguments rebuild the shipped network."""

import json
from pathlib import Path

import numpy as np
import pytest

import keras_trt
from training import add_to_zoo

pytestmark = pytest.mark.backend_independent  # card writing; loading per backend is tested elsewhere

ZOO = Path(__file__).resolve().parents[2] / "zoo"


@pytest.mark.parametrize("name, builder_shape", [
    ("vggsnn-nmnistemu-t10", [34, 34, 2]),   # event frames: the builder takes one frame, T apart
    ("smlp-basicmotions-t20", [20, 6]),      # a series: the builder takes (T, F) whole
])
def test_card_build_arguments_rebuild_the_model(name, builder_shape, tmp_path):
    target = add_to_zoo.add(ZOO / name, zoo_dir=tmp_path)
    card = json.loads((target / "card.json").read_text())
    assert card["build"]["input_shape"] == builder_shape
    shipped = json.loads((ZOO / name / "card.json").read_text())
    assert card["build"] == shipped["build"]
    model = keras_trt.models.build(card["architecture"], **card["build"])
    assert list(model.inputs[0].shape[1:]) == card["input_shape"]
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == card["parameters"]
