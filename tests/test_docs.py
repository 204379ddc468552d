"""The documentation runs: every ``>>>`` example in keras_trt/ and training/, and the README's
Python snippets exactly as written.

Doctests run once (backend-independent leg), in a scratch working directory with a private,
offline Hugging Face cache, so an example that writes ``out/...`` or touches the Hub cache leaves
nothing behind. Examples that need data or network that is not here are marked
``# doctest: +SKIP``; ``test_skips_stay_few`` keeps that number from creeping up.
"""

from __future__ import annotations

import doctest
import importlib
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("keras_trt", "training")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
MAX_SKIPS = 48  # examples that need a download or the real Hub; lower it as they become runnable


def _modules():
    """Every module of PACKAGES, found on disk (importing them here would cost every leg)."""
    names = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts[-1] != "__main__":
                names.append(".".join(parts))
    return sorted(names)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A private working directory (seeing the checkout's ``zoo/``, as examples run from the
    repository root do) and Hugging Face cache, offline."""
    import huggingface_hub.constants as hf

    home = tmp_path / "hf-home"
    for var, value in (("HF_HOME", home), ("HF_HUB_CACHE", home / "hub")):
        monkeypatch.setenv(var, str(value))
        monkeypatch.setattr(hf, var, str(value))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "zoo").symlink_to(ROOT / "zoo", target_is_directory=True)
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name, scratch):
    import keras

    module = importlib.import_module(name)
    keras.utils.set_random_seed(0)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)


def test_skips_stay_few():
    skips = 0
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            skips += len(re.findall(r">>>.*doctest: \+SKIP", path.read_text()))
    assert skips <= MAX_SKIPS, f"{skips} skipped docstring examples (limit {MAX_SKIPS}): make them runnable"


# ----------------------------------------------------------------------------- README


def _readme_blocks():
    """``{section heading: source}`` of the README's ```python blocks (one per section)."""
    blocks, heading, lines, inside = {}, None, [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        if inside:
            if line.startswith("```"):
                assert heading not in blocks, f"two python blocks under {heading!r}"
                blocks[heading] = "\n".join(lines) + "\n"
                inside, lines = False, []
            else:
                lines.append(line)
        elif line.startswith("```python"):
            inside = True
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    return blocks


BLOCKS = _readme_blocks()


def _run_snippet(source, heading):
    import keras

    keras.utils.set_random_seed(0)
    namespace = {"__name__": "readme"}
    exec(compile(source, f"README.md ({heading})", "exec"), namespace)
    return namespace


def test_every_readme_snippet_is_tested():
    assert set(BLOCKS) == {
        "Quick tour", "My SNN predicts one class", "Model zoo", "Your own surrogates", "Analysis and export",
    }, (
        "a new README snippet: add a test that runs it"
    )


def test_readme_quick_tour_then_the_silence_tools(scratch):
    ns = _run_snippet(BLOCKS["Quick tour"], "Quick tour")
    model, x_test = ns["model"], ns["x_test"]
    assert model.output_shape == (None, 10)
    assert model.predict(x_test, verbose=0).shape == (len(x_test), 10)
    # Three epochs on the digits learn them (chance is 0.1), and the model fires at inference.
    accuracy = model.evaluate(x_test, ns["y_test"], verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.5, accuracy
    # The silence section's snippet continues the quick tour's session, as a reader would.
    exec(compile(BLOCKS["My SNN predicts one class"], "README.md (My SNN predicts one class)", "exec"), ns)
    assert not ns["report"].silent


def test_readme_analysis_and_export(scratch):
    import nir

    ns = _run_snippet(BLOCKS["Analysis and export"], "Analysis and export")
    assert ns["report"].totals["sops"] > 0 and (scratch / "profile.png").stat().st_size > 0
    assert isinstance(ns["graph"], nir.NIRGraph)
    assert (scratch / "model.onnx").stat().st_size > 0


def test_readme_custom_surrogate(scratch, tmp_path):
    import keras

    ns = _run_snippet(BLOCKS["Your own surrogates"], "Your own surrogates")
    inp = keras.Input((4, 3))
    model = keras.Model(inp, ns["lif"](inp))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[-1].surrogate).__name__ == "FastSigmoid"
    assert loaded.layers[-1].surrogate.slope == 10.0


def test_readme_model_zoo(scratch, monkeypatch):
    """The zoo snippet, with ``hf://org/repo@v1`` served by a local fake of the Hub."""
    import huggingface_hub.constants as hf

    sys.path.insert(0, str(ROOT / "tests" / "zoo"))
    try:
        from zoo_fake_hub import FakeHub
    finally:
        sys.path.remove(str(ROOT / "tests" / "zoo"))

    hub = FakeHub().start()
    try:
        shipped = ROOT / "zoo" / "smlp-basicmotions-t20"
        hub.commit("org/repo", {p.name: p.read_bytes() for p in shipped.iterdir() if p.name != "card.json"},
                   branch="v1")
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setattr(hf, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setattr(hf, "ENDPOINT", hub.url)
        monkeypatch.setattr(hf, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(var, "127.0.0.1,localhost")
        ns = _run_snippet(BLOCKS["Model zoo"], "Model zoo")
    finally:
        hub.stop()
    assert any(path.startswith("/org/repo/resolve/v1/") for path in hub.paths_requested("GET"))
    assert ns["model"].name.startswith("sresnet34")
    assert sorted(p.name for p in (scratch / "out" / "my-snn").iterdir()) == [
        "README.md", "config.json", "metadata.json", "model.weights.h5",
    ]
