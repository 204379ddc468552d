"""The registry (zoo/<name>/card.json folders), list()/info(), entries without weights, publishing."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest

from zoo_helpers import make_model, predict
from keras_trt import zoo
from keras_trt.zoo import registry
from training import publish as publish_mod

pytestmark = pytest.mark.backend_independent


def _write_card(folder, **card):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.json").write_text(json.dumps(card, indent=2))
    return folder


def _pins(folder):
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in ("metadata.json", "config.json", "model.weights.h5", "README.md")}


UNPUBLISHED = dict(
    name="sew-resnet18-imagenet",
    architecture="sew_resnet18",
    build={"num_classes": 1000, "timesteps": 4},
    dataset="imagenet",
    timesteps=4,
    num_classes=1000,
    input_shape=[224, 224, 3],
    parameters=11_700_000,
    hub=None,
    files={},
    metrics={},
    recipe="sew-resnet18-imagenet",
    license="apache-2.0",
    published=False,
    notes="Convert the SpikingJelly checkpoint with scripts/convert_sew.py.",
)


# ----------------------------------------------------------------------------- local zoo entries


def test_local_entry_loads_offline_and_checks_pins(isolated_registry, hf_env, x_batch):
    model = make_model(seed=1)
    folder = isolated_registry / "lif-mlp-toy"
    zoo.save_preset(model, folder, dataset="toy", timesteps=4, metrics={"accuracy": 0.875})
    _write_card(folder, name="lif-mlp-toy", architecture="mlp", dataset="toy", timesteps=4, files=_pins(folder),
                published=False, hub=None, license="apache-2.0", metrics={"accuracy": 0.875})
    hf_env.set_offline(True)  # no network needed for a preset committed to the zoo
    np.testing.assert_allclose(predict(zoo.load("lif-mlp-toy"), x_batch), predict(model, x_batch), atol=0)
    # a registry pin that disagrees is fatal, even if metadata.json is self-consistent
    card = json.loads((folder / "card.json").read_text())
    card["files"]["metadata.json"] = "0" * 64
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(zoo.IntegrityError, match="registry card"):
        zoo.load("lif-mlp-toy")


def test_unpublished_entry_explains_how_to_get_weights(isolated_registry, monkeypatch):
    _write_card(isolated_registry / UNPUBLISHED["name"], **UNPUBLISHED)
    with pytest.raises(zoo.WeightsUnavailableError) as err:
        zoo.load("sew-resnet18-imagenet")
    message = str(err.value)
    assert "python -m training.train sew-resnet18-imagenet" in message
    assert "PyTorch checkpoint" in message and "weights=False" in message and "convert_sew.py" in message

    calls = []

    def build(architecture, **kwargs):  # stands in for keras_trt.models.build
        calls.append((architecture, kwargs))
        return make_model(num_classes=kwargs["num_classes"])

    import keras_trt.models

    monkeypatch.setattr(keras_trt.models, "build", build)
    model = zoo.load("sew-resnet18-imagenet", weights=False)
    assert calls == [("sew_resnet18", {"num_classes": 1000, "timesteps": 4})]
    assert model.output_shape == (None, 1000)
    model = zoo.load("sew-resnet18-imagenet", weights=False, num_classes=10, freeze_backbone=True)
    assert calls[-1] == ("sew_resnet18", {"num_classes": 1000, "timesteps": 4})  # then the head is swapped
    assert model.output_shape == (None, 10)
    assert {w.path for w in model.trainable_weights} == {"classifier/kernel", "classifier/bias"}


def test_list_and_info(isolated_registry, capsys):
    folder = isolated_registry / "lif-mlp-toy"
    zoo.save_preset(make_model(), folder, dataset="toy", timesteps=4)
    _write_card(folder, name="lif-mlp-toy", architecture="mlp", dataset="toy", timesteps=4, parameters=195,
                metrics={"accuracy": 0.875}, license="mit", hub=None, files={})
    _write_card(isolated_registry / UNPUBLISHED["name"], **UNPUBLISHED)
    zoo.register({"name": "hub-model", "architecture": "mlp", "dataset": "toy",
                  "hub": {"repo": "org/hub-model", "revision": "a" * 40}, "files": {}, "size_bytes": 3 << 20})
    rows = zoo.list()
    assert capsys.readouterr().out == ""  # nothing printed: the REPL shows the repr
    table = repr(rows)
    assert [r["name"] for r in rows] == ["hub-model", "lif-mlp-toy", "sew-resnet18-imagenet"]
    assert {r["name"]: r["weights"] for r in rows} == {"hub-model": "hub", "lif-mlp-toy": "local", "sew-resnet18-imagenet": "none"}
    header = table.splitlines()[0].split()
    assert header == ["name", "architecture", "dataset", "T", "params", "accuracy", "size", "licence", "weights"]
    assert "87.50%" in table and "11.7M" in table and "3.0 MB" in table and "imagenet" in table
    assert rows.table() == table and str(rows) == table
    assert zoo.list(show=True) == rows and capsys.readouterr().out == table + "\n"

    data = zoo.info("sew-resnet18-imagenet")
    printed = capsys.readouterr().out
    assert data["weights"] == "none" and data["recipe"] == UNPUBLISHED["recipe"]
    assert data["load"] == "keras_trt.zoo.load('sew-resnet18-imagenet', weights=False)"
    assert "sew_resnet18" in printed
    assert zoo.info("lif-mlp-toy", show=False)["folder"] == str(folder)


def test_register_conflicts_and_unregister(isolated_registry):
    _write_card(isolated_registry / "a-model", name="a-model", architecture="mlp")
    with pytest.raises(ValueError, match="already registered"):
        zoo.register({"name": "a-model"})
    zoo.register({"name": "a-model", "architecture": "other"}, overwrite=True)
    assert zoo.info("a-model", show=False)["architecture"] == "other"
    zoo.unregister("a-model")
    assert zoo.info("a-model", show=False)["architecture"] == "mlp"
    with pytest.raises(KeyError):
        zoo.unregister("a-model")  # only runtime registrations can be removed
    with pytest.raises(zoo.PresetFormatError, match="name"):
        zoo.register({"name": "bad name!"})
    with pytest.raises(zoo.PresetFormatError, match="sha256"):
        zoo.register({"name": "x", "files": {"config.json": "nope"}})


def test_env_path_and_broken_cards(isolated_registry, tmp_path, monkeypatch):
    extra = tmp_path / "more-cards"
    _write_card(extra / "extra-model", name="extra-model", architecture="mlp")
    _write_card(isolated_registry / "broken", name="broken")
    (isolated_registry / "broken" / "card.json").write_text("{not json")
    monkeypatch.setenv(registry.ENV_PATH, str(extra))
    with pytest.warns(UserWarning, match="broken"):
        names = [r["name"] for r in zoo.list(show=False)]
    assert names == ["extra-model"]
    with pytest.raises(zoo.PresetFormatError, match="not valid JSON"):
        zoo.load("broken")


def test_installed_package_layout_is_found(tmp_path, monkeypatch):
    """An installed wheel carries zoo/ as keras_trt/_zoo_cards (setuptools package-dir mapping)."""
    import keras_trt

    monkeypatch.undo()  # drop the isolation fixture's patch of builtin_cards_dir
    fake_site = tmp_path / "site" / "keras_trt"
    _write_card(fake_site / "_zoo_cards" / "shipped-model", name="shipped-model", architecture="mlp")
    monkeypatch.setattr(keras_trt, "__path__", list(keras_trt.__path__) + [str(fake_site)])
    monkeypatch.delitem(sys.modules, "keras_trt._zoo_cards", raising=False)
    try:
        assert registry.builtin_cards_dir() == fake_site / "_zoo_cards"
        assert "shipped-model" in registry.names()
    finally:
        sys.modules.pop("keras_trt._zoo_cards", None)


def test_checkout_fallback_is_the_repo_zoo_folder(monkeypatch):
    monkeypatch.undo()
    from pathlib import Path

    found = registry.builtin_cards_dir()
    repo_zoo = Path(registry.__file__).resolve().parents[2] / "zoo"
    if repo_zoo.is_dir():
        assert found is not None and found.resolve() == repo_zoo.resolve()
    else:
        assert found is None


# ----------------------------------------------------------------------------- publishing


def _zoo_entry(isolated_registry, name="lif-mlp-toy", model=None):
    folder = isolated_registry / name
    zoo.save_preset(model or make_model(seed=4), folder, dataset="toy", timesteps=4, metrics={"accuracy": 0.75})
    _write_card(folder, schema_version=1, name=name, architecture="mlp", build={}, dataset="toy", timesteps=4,
                hub=None, files={}, metrics={"accuracy": 0.75}, recipe=f"training/recipes/{name}.py",
                license="apache-2.0", published=False, notes="")
    return folder


def test_publish_dry_run_writes_exact_upload_folder(isolated_registry, tmp_path, capsys):
    folder = _zoo_entry(isolated_registry)
    card_before = (folder / "card.json").read_text()
    out = tmp_path / "upload"
    assert publish_mod.main([str(folder), "--repo", "org/lif-mlp-toy", "--dry-run", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "metadata.json", "model.weights.h5"]
    for name in ("metadata.json", "config.json", "model.weights.h5", "README.md"):
        assert (out / name).read_bytes() == (folder / name).read_bytes()  # the preset, byte for byte
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() in printed
    assert (folder / "card.json").read_text() == card_before  # nothing recorded
    assert "nothing uploaded" in printed
    assert publish_mod.main([str(folder), "--repo", "org/lif-mlp-toy", "--dry-run", str(out)]) == 1  # not empty


def test_publish_dry_run_with_hand_written_model_card(isolated_registry, tmp_path):
    preset = zoo.save_preset(make_model(), tmp_path / "trained", dataset="toy", timesteps=4, metrics={"accuracy": 0.5})
    card_dir = _write_card(isolated_registry / "toy-model", name="toy-model", architecture="mlp", dataset="toy")
    (card_dir / "README.md").write_text("# Toy model\n\nHand-written card.\n")
    out = tmp_path / "upload"
    result = publish_mod.publish(card_dir, "org/toy-model", preset=preset, dry_run=out)
    readme = (out / "README.md").read_text()
    assert readme.startswith("---\n") and "library_name: keras" in readme and "Hand-written card." in readme
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["files"]["README.md"] == hashlib.sha256(readme.encode()).hexdigest()
    assert result["files"]["metadata.json"] == hashlib.sha256((out / "metadata.json").read_bytes()).hexdigest()
    zoo.load(out)  # the staged folder is itself a valid preset


def test_publish_to_fake_hub_pins_card_then_loads_by_name(isolated_registry, fake_hub, hf_env, tmp_path, x_batch, capsys):
    model = make_model(seed=4)
    folder = _zoo_entry(isolated_registry, model=model)
    assert publish_mod.main([str(folder), "--repo", "org/lif-mlp-toy", "--private"]) == 0
    assert "Pinned in" in capsys.readouterr().out
    card = json.loads((folder / "card.json").read_text())
    commit = fake_hub.repos["org/lif-mlp-toy"]["refs"]["main"]
    assert card["hub"] == {"repo": "org/lif-mlp-toy", "revision": commit}
    assert card["published"] is True and card["recipe"] == "training/recipes/lif-mlp-toy.py"  # other fields kept
    assert card["files"] == _pins(folder)
    assert {n: hashlib.sha256(b).hexdigest() for n, b in fake_hub.files("org/lif-mlp-toy").items()} == card["files"]
    assert fake_hub.created[-1].get("visibility") == "private" or fake_hub.created[-1].get("private") is True
    assert card["size_bytes"] == sum(len(b) for b in fake_hub.files("org/lif-mlp-toy").values())

    # A user with only the card (no local preset) loads by name from the Hub, pinned.
    remote = _write_card(tmp_path / "cards" / "lif-mlp-toy", **card)
    (folder / "card.json").unlink()
    zoo.register(remote)
    np.testing.assert_allclose(predict(zoo.load("lif-mlp-toy"), x_batch), predict(model, x_batch), atol=0)
    assert zoo.info("lif-mlp-toy", show=False)["weights"] == "hub"

    # Publishing again (e.g. a new card README) makes a new commit and re-pins.
    _write_card(folder, **card)
    (folder / "README.md").write_text((folder / "README.md").read_text() + "\nMore notes.\n")
    result = publish_mod.publish(folder, "org/lif-mlp-toy")
    assert result["revision"] != commit
    assert json.loads((folder / "card.json").read_text())["files"] == _pins(folder)  # local copy re-synced
    zoo.unregister("lif-mlp-toy")
    np.testing.assert_allclose(predict(zoo.load("lif-mlp-toy"), x_batch), predict(model, x_batch), atol=0)


def test_publish_refuses_a_tampered_preset(isolated_registry, tmp_path):
    folder = _zoo_entry(isolated_registry)
    data = bytearray((folder / "model.weights.h5").read_bytes())
    data[-10] ^= 0xFF
    (folder / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(zoo.IntegrityError):
        publish_mod.publish(folder, "org/x", dry_run=tmp_path / "out")
