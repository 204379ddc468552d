"""training/train.py: no silent or cryptic runs (bad epochs, damaged checkpoints, Ctrl-C)."""

import json

import keras
import pytest

from backend_utils import BACKEND
from training import recipe as recipes
from training import train

# The run-folder logic does not depend on the backend: one backend pays for it.
one_backend = pytest.mark.skipif(BACKEND != "jax", reason="backend-independent run-folder logic")


def _tiny():
    return recipes.get("scnn-digits-t4").replace(batch_size=512, build=dict(widths=(2, 4)))


class _InterruptAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise KeyboardInterrupt


class _InterruptAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


@pytest.mark.parametrize("value", ["0", "-2"])
def test_cli_refuses_nonpositive_epochs(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        train._parse(["scnn-digits-t4", "--epochs", value])
    assert exit_.value.code == 2
    assert f"--epochs: must be a whole number >= 1, got {value}" in capsys.readouterr().err
    assert train._parse(["scnn-digits-t4", "--epochs", "3"]).epochs == 3


@pytest.mark.parametrize("epochs", [0, -1, 1.5])
def test_train_refuses_epochs_instead_of_using_the_recipes(epochs, tmp_path):
    with pytest.raises(ValueError, match=f"epochs must be a whole number >= 1, got {epochs}"):
        train.train(_tiny(), output=tmp_path, epochs=epochs, verbose=0, save_preset=False)
    assert not tmp_path.joinpath("checkpoint").exists()


@one_backend
@pytest.mark.parametrize("content", ["{not json", "[]", '{"recipe": "scnn-digits-t4"}'])
def test_damaged_state_file_names_restart(content, tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "state.json").write_text(content)
    with pytest.raises(SystemExit, match="state.json is damaged .* --restart"):
        train.train(_tiny(), output=tmp_path, epochs=1, verbose=0, save_preset=False)


@one_backend
def test_damaged_model_file_names_restart_and_restart_discards_it(tmp_path):
    recipe = _tiny()
    run = dict(recipe=recipe.name, seed=0, trt=True, epochs=1, batch_size=512, backend=BACKEND)
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "state.json").write_text(json.dumps(dict(run, epoch=1)))
    (tmp_path / "checkpoint" / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SystemExit, match="model.keras cannot be read .* --restart"):
        train.train(recipe, output=tmp_path, epochs=1, verbose=0, save_preset=False)
    # --restart discards the damaged checkpoint and trains from scratch (stopped at once here).
    with pytest.raises(KeyboardInterrupt):
        train.train(recipe, output=tmp_path, epochs=1, verbose=0, save_preset=False, restart=True,
                    extra_callbacks=[_InterruptAtStart()])
    assert not (tmp_path / "checkpoint").exists()


@one_backend
def test_ctrl_c_prints_one_line_and_exits_130(tmp_path, monkeypatch, capsys):
    real_train = train.train

    def interrupted(recipe, **kw):  # the CLI's own call, on a smaller model, stopped by "Ctrl-C"
        kw.update(save_preset=False, extra_callbacks=[_InterruptAfterFirstEpoch()])
        return real_train(_tiny(), **kw)

    monkeypatch.setattr(train, "train", interrupted)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        train.main(["scnn-digits-t4", "--epochs", "3", "--batch-size", "512", "--output", str(out), "--verbose", "0", "--no-trt"])
    assert exit_.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"Interrupted: the checkpoint after epoch 1 is kept in {out / 'checkpoint'}; "
        "run the same command to resume."
    )
    assert "Traceback" not in "\n".join(err)
    assert json.loads((out / "checkpoint" / "state.json").read_text())["epoch"] == 1
