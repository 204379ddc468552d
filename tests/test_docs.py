"""The documentation runs: every ``>>>`` example in keras_trt/ and training/, and the Python
snippets of the README and of the documentation pages (``docs/**/*.md``) exactly as written.

Doctests run once (backend-independent leg), in a scratch working directory with a private,
offline Hugging Face cache, so an example that writes ``out/...`` or touches the Hub cache leaves
nothing behind. Examples that need data or network that is not here are marked
``# doctest: +SKIP``; ``test_skips_stay_few`` keeps that number from creeping up.

Every ```python block of those pages runs (``test_snippet_runs``) in the same scratch directory;
the blocks listed in ``CHECKED`` run in tests of their own that also check what they make. A
block whose first line is ``# not run: <why>`` is only compiled. The README's generated tables
(zoo, headline speed) are checked against what generates them.
"""

from __future__ import annotations

import doctest
import importlib
import json
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


# ----------------------------------------------------------------------------- snippets

NOT_RUN = "# not run:"


def _pages():
    """The README and the hand-written Markdown pages of the site (tutorials are scripts, run by
    the docs build; the results pages are written by training.compare and hold no snippets)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _page_blocks(path):
    """``{"<page> § <heading>": source}`` of a page's ```python blocks (a second block under one
    heading gets `` (2)``)."""
    rel = path.relative_to(ROOT).as_posix()
    blocks, heading, lines, inside = {}, None, [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if inside:
            if line.startswith("```"):
                key, n = f"{rel} § {heading}", 2
                while key in blocks:
                    key, n = f"{rel} § {heading} ({n})", n + 1
                blocks[key] = "\n".join(lines) + "\n"
                inside, lines = False, []
            else:
                lines.append(line)
        elif line.startswith("```python"):
            inside = True
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    return blocks


BLOCKS = {k: v for page in _pages() for k, v in _page_blocks(page).items()}
QUICK_TOUR = "docs/getting-started/quick-tour.md § Quick tour"
SILENCE = "docs/how-to/silent-snns.md § My SNN predicts one class (silent SNNs)"
ZOO = "docs/zoo.md § Using the zoo"
SURROGATE = "docs/how-to/custom-surrogates.md § Your own surrogates"
ANALYSIS = "docs/how-to/analysis-and-export.md § Analysis and export"
CHECKPOINT = "docs/how-to/spikingjelly-checkpoints.md § Import a SpikingJelly (or torchvision) ResNet checkpoint"
README_TOUR = "README.md § Quick tour"
CHECKED = (README_TOUR, QUICK_TOUR, SILENCE, ZOO, SURROGATE, ANALYSIS, CHECKPOINT)


def _run_snippet(key, namespace=None):
    import keras

    keras.utils.set_random_seed(0)
    namespace = {"__name__": "snippet"} if namespace is None else namespace
    exec(compile(BLOCKS[key], key, "exec"), namespace)
    return namespace


def test_the_checked_snippets_exist():
    missing = [k for k in CHECKED if k not in BLOCKS]
    assert not missing, f"pages or headings moved: {missing}; snippets found: {sorted(BLOCKS)}"


@pytest.mark.parametrize("key", sorted(k for k in BLOCKS if k not in CHECKED))
def test_snippet_runs(key, scratch):
    source = BLOCKS[key]
    if source.lstrip().startswith(NOT_RUN):
        compile(source, key, "exec")  # read, not run: it must still be Python
        return
    _run_snippet(key)


def test_readme_quick_tour(scratch):
    ns = _run_snippet(README_TOUR)
    model, x_test, y_test = ns["model"], ns["x_test"], ns["y_test"]
    accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.5, accuracy  # three epochs learn the digits (chance is 0.1)
    assert ns["pretrained"].output_shape == (None, 4)


def test_quick_tour_then_the_silence_tools(scratch):
    ns = _run_snippet(QUICK_TOUR)
    model, x_test = ns["model"], ns["x_test"]
    assert model.output_shape == (None, 10)
    assert model.predict(x_test, verbose=0).shape == (len(x_test), 10)
    # Three epochs on the digits learn them (chance is 0.1), and the model fires at inference.
    accuracy = model.evaluate(x_test, ns["y_test"], verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.5, accuracy
    # The silence page's snippet continues the quick tour's session, as its page says.
    _run_snippet(SILENCE, ns)
    assert not ns["report"].silent


def test_analysis_and_export(scratch):
    import nir

    ns = _run_snippet(ANALYSIS)
    assert ns["report"].totals["sops"] > 0 and (scratch / "profile.png").stat().st_size > 0
    assert isinstance(ns["graph"], nir.NIRGraph)
    assert (scratch / "model.onnx").stat().st_size > 0


def test_custom_surrogate(scratch, tmp_path):
    import keras

    ns = _run_snippet(SURROGATE)
    inp = keras.Input((4, 3))
    model = keras.Model(inp, ns["lif"](inp))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[-1].surrogate).__name__ == "FastSigmoid"
    assert loaded.layers[-1].surrogate.slope == 10.0


def test_checkpoint_import(scratch):
    import numpy as np

    ns = _run_snippet(CHECKPOINT)
    report = ns["report"]
    assert report.loaded and not (report.missing or report.unexpected or report.skipped)
    for a, b in zip(ns["model"].get_weights(), ns["source"].get_weights()):
        np.testing.assert_array_equal(a, b)
    tuned = ns["tuned"]
    assert tuned.output_shape == (None, 100)


def test_zoo_snippet(scratch, monkeypatch):
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
        ns = _run_snippet(ZOO)
    finally:
        hub.stop()
    assert any(path.startswith("/org/repo/resolve/v1/") for path in hub.paths_requested("GET"))
    assert ns["model"].name.startswith("sresnet34")
    assert sorted(p.name for p in (scratch / "out" / "my-snn").iterdir()) == [
        "README.md", "config.json", "metadata.json", "model.weights.h5",
    ]


# ----------------------------------------------------------------------------- README tables


def _readme_block(begin, end):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(begin) == 1 and text.count(end) == 1, f"the README lost its {begin} ... {end} block"
    return text.split(begin)[1].split(end)[0].strip()


def test_readme_zoo_table_is_the_registry():
    from training import zoo_table

    block = _readme_block(zoo_table.BEGIN, zoo_table.END)
    assert block == zoo_table.table(), "README zoo table out of date: python -m training.zoo_table --readme"
    from keras_trt import zoo

    assert block.count("\n| `") == len(zoo.list())  # every registered model, one row each


def test_readme_speed_table_is_one_row_per_cpu_kind():
    from benchmarks import report
    from benchmarks.run import MARK_BEGIN, MARK_END

    results = ROOT / "benchmarks" / "results"
    expected = report.readme_table(str(results)).strip()
    assert _readme_block(MARK_BEGIN, MARK_END) == expected, (
        "README speed table out of date: python -m benchmarks.report --readme")
    kinds = sorted((results / "cpus").glob("*.json"))
    assert kinds and expected.count("\n| ") == len(kinds)  # one row per record below the header
    assert all(report.complete(json.loads(p.read_text())) for p in kinds)


def test_readme_stays_a_front_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    first = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert first == ["bash scripts/setup.sh && .venv/bin/python -m training.quickstart",
                     "bash scripts/setup.sh && bash scripts/test.sh"]  # the two commands, first
