"""The documentation site's build machinery (docs/hooks/), piece by piece, on small inputs.

The strict build itself (every tutorial executed) is the last step of scripts/test.sh; these
tests check the parts it relies on, so a broken hook shows as a named failure here too.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "docs" / "hooks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(HOOKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(HOOKS))
    return module


@pytest.fixture(scope="module")
def runner():
    return _load("tutorials")


@pytest.fixture(scope="module")
def site():
    pytest.importorskip("mkdocs")
    return _load("site")


TUTORIAL = '''"""A docstring before the first cell is code."""
# %% [markdown]
# # A title
#
# Some *text*.

# %%
import sys
print("hello")
print("err", file=sys.stderr)
for i in range(3):
    print(f"step {i}", end="\\r")
print()

# %%
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0])
plt.show()
x = 41
# %% [markdown]
# The answer follows.
# %%
print(x + 1)
'''


def test_parse_splits_percent_cells(runner):
    cells = runner.parse(TUTORIAL)
    assert [k for k, _ in cells] == ["code", "markdown", "code", "code", "markdown", "code"]
    assert cells[1][1] == "# A title\n\nSome *text*."
    assert cells[5][1] == "print(x + 1)"
    assert runner.title(TUTORIAL) == "A title"


def test_clean_applies_carriage_returns_and_colours(runner):
    assert runner._clean("a\rb\rc\nnext") == "c\nnext"
    assert runner._clean("\x1b[1mbold\x1b[0m ok") == "bold ok"
    assert runner._clean("ab\bc") == "ac"
    long = "\n".join(str(i) for i in range(200))
    cut = runner._clean(long).splitlines()
    assert len(cut) == runner.MAX_OUTPUT_LINES + 1 and cut[0] == "0" and cut[-1] == "199"


def test_execute_records_output_and_figures_then_renders(runner, tmp_path):
    script = tmp_path / "demo.py"
    script.write_text(TUTORIAL)
    out = tmp_path / "demo.json"
    proc = subprocess.run([sys.executable, str(HOOKS / "tutorials.py"), str(script), str(out)],
                          cwd=tmp_path, capture_output=True, text=True, env={"MPLBACKEND": "Agg", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    code = [c for c in record["cells"] if c["kind"] == "code"]
    assert code[1]["output"] == "hello\nerr\nstep 2"  # stdout and stderr, \r rewrites applied
    assert len(code[2]["figures"]) == 1 and code[3]["output"] == "42"
    md, images = runner.render(record, "demo", "demo_files", "test")
    assert list(images) == ["demo_files/cell4-1.png"] and images["demo_files/cell4-1.png"][:4] == b"\x89PNG"
    assert "![figure 1 of cell 4](demo_files/cell4-1.png)" in md
    assert md.index("# A title") < md.index("This page is a script") < md.index("print(\"hello\")")
    assert md.index("A docstring before") < md.index("# A title")  # cells keep their order
    assert "```text\n42\n```" in md


def test_a_failing_cell_fails_with_its_traceback(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("# %%\nprint('before')\n# %%\nraise ValueError('the fix is X')\n# %%\nprint('never')\n")
    out = tmp_path / "bad.json"
    proc = subprocess.run([sys.executable, str(HOOKS / "tutorials.py"), str(script), str(out)],
                          cwd=tmp_path, capture_output=True, text=True, env={"MPLBACKEND": "Agg", "PATH": ""})
    assert proc.returncode == 1 and "ValueError: the fix is X" in proc.stderr
    record = json.loads(out.read_text())
    assert record["error"]["cell"] == 2 and "the fix is X" in record["error"]["traceback"]
    assert len(record["cells"]) == 2  # nothing after the failing cell ran


def test_every_tutorial_follows_the_convention(runner):
    scripts = sorted((ROOT / "docs" / "tutorials").glob("*.py"))
    assert scripts, "no tutorials"
    for path in scripts:
        text = path.read_text()
        cells = runner.parse(text)
        assert runner.title(text), f"{path.name}: the first Markdown cell needs a '# Title' line"
        assert any(k == "code" for k, _ in cells), path.name
        for kind, source in cells:
            if kind == "code":
                compile(source, str(path), "exec")


def test_readme_links_point_into_the_site(site):
    text = site.readme_as_index()
    assert "](docs/" not in text
    assert "](tutorials/first_trt_model.md)" in text and "](zoo.md)" in text
    assert "](https://arxiv.org/abs/2408.09108)" in text


def test_nav_folders_keep_order_add_new_and_drop_absent(site):
    entries = ["tutorials/index.md", "tutorials/b.md", "tutorials/gone.md", "tutorials/a.md", {"x": "y.md"}]
    got = site._fill_folder(entries, "tutorials", ["tutorials/a.md", "tutorials/b.md", "tutorials/new.md"])
    assert got == ["tutorials/index.md", "tutorials/b.md", "tutorials/a.md", {"x": "y.md"}, "tutorials/new.md"]


def test_reference_covers_every_public_module(site):
    names = site.public_modules()
    assert "keras_trt" in names and "keras_trt.trt.model" in names and "keras_trt.zoo.loader" in names
    assert not [n for n in names if any(p.startswith("_") for p in n.split("."))]
    on_disk = {p for p in (ROOT / "keras_trt").rglob("*.py") if not any(
        part.startswith("_") and part != "__init__.py" for part in p.relative_to(ROOT).parts)}
    assert len(names) == len(on_disk)
    flat = json.dumps(site._reference_nav())
    assert all(f'"reference/{n}.md"' in flat for n in names)


def test_generated_blocks(site):
    from training import results_table, zoo_table

    assert site._generated("zoo-table") == zoo_table.table()
    assert site._generated("results-table") == results_table.table(results_table.load(ROOT / "docs" / "results"))
    bench = site._generated("benchmarks")
    # Every CPU kind's record, float32 before bfloat16, then the other benchmarks, then the
    # transformer's table, then the op profiles; the ResNet's latest.md (a copy of one kind's record) is left out.
    assert (bench.index("cpus/amd-zen-3.md") < bench.index("cpus/amd-zen-4-bf16.md") < bench.index("streaming.md")
            < bench.index("results/spikformer/latest.md") < bench.index("results/profiles/"))
    assert "`benchmarks/results/latest.md`" not in bench
    assert site._generated("cheap-table") == results_table.cheap_table(results_table.load(ROOT / "docs" / "results"))
    with pytest.raises(Exception, match="unknown generated block 'nope'"):
        site._generated("nope")


def test_docstrings_become_markdown():
    pytest.importorskip("griffe")
    ext = _load("griffe_docstrings")
    text = ("Uses :class:`~keras_trt.layers.LIF` and :func:`keras.ops.where`.\n\n"
            "    >>> x = 1\n    >>> x + 1\n    2\n\nAfter.")
    md = ext.to_markdown(text)
    assert '<autoref identifier="keras_trt.layers.LIF" optional><code>LIF</code></autoref>' in md
    assert "`keras.ops.where`" in md
    assert "    ```pycon\n    >>> x = 1\n    >>> x + 1\n    2\n    ```\n\nAfter." in md
