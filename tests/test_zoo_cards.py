"""The shipped zoo: every card agrees with zoo.list(), its recipe, and the architecture it names."""

import json
import pathlib

import numpy as np
import pytest

from keras_trt import zoo
from training import recipe as recipes

pytestmark = pytest.mark.backend_independent


ZOO = pathlib.Path(__file__).resolve().parents[1] / "zoo"
CARDS = {p.parent.name: json.loads(p.read_text()) for p in sorted(ZOO.glob("*/card.json"))}
PAPER_MODELS = [
    "sresnet34-imagenet-t2", "sresnet18-imagenet-t2", "sresnet19-cifar10-t2",
    "sresnet19-cifar100-t2", "vggsnn-dvscifar10-t10", "vggsnn-dvsgesture-t10",
    "spointnet-modelnet40-t2",
]


def test_the_papers_models_are_registered():
    assert set(PAPER_MODELS) <= set(CARDS)


def test_list_matches_the_cards():
    rows = {r["name"]: r for r in zoo.list(show=False)}
    assert set(CARDS) <= set(rows)
    for name, card in CARDS.items():
        row = rows[name]
        assert card["name"] == name
        assert row["architecture"] == card["architecture"]
        assert row["dataset"] == card["dataset"]
        assert row["timesteps"] == card["timesteps"]
        local = (ZOO / name / "model.weights.h5").exists()
        assert row["weights"] == ("local" if local else "hub" if card.get("published") else "none")


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_recipe_and_architecture_agree(name):
    card = CARDS[name]
    recipe = recipes.get(card["recipe"])
    assert recipe.name == name and recipe.architecture == card["architecture"]
    assert recipe.timesteps == card["timesteps"] == card["build"]["timesteps"]
    model = zoo.load(name, weights=False)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == card["parameters"]
    assert model.output_shape == (None, card["num_classes"])
    assert list(model.input_shape[1:]) == card["input_shape"][-len(model.input_shape[1:]):]


@pytest.mark.parametrize("name", [n for n in sorted(CARDS) if not CARDS[n].get("published")
                                  and not (ZOO / n / "model.weights.h5").exists()])
def test_unpublished_models_say_how_to_get_weights(name):
    with pytest.raises(zoo.WeightsUnavailableError, match=f"python -m training.train {name}"):
        zoo.load(name)
