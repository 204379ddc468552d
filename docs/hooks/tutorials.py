"""Tutorials: jupytext "percent" scripts executed into Markdown pages (keras.io-style).

A tutorial is ``docs/tutorials/<name>.py``: ``# %% [markdown]`` starts a Markdown cell (its lines
start with ``# ``), ``# %%`` a code cell. ``python docs/hooks/tutorials.py SCRIPT OUT.json`` runs
one in a fresh process, cell by cell in one namespace, with the repository root as working
directory, and records each code cell's printed output and the matplotlib figures it left open
(``plt.show()`` draws nothing here; every open figure is captured after its cell and closed). A
cell that raises stops the run: OUT.json then holds the traceback and the process exits with 1.
:func:`render` turns the record into the page. The site hook (``docs/hooks/site.py``) runs one
process per tutorial and caches records by the hash of the script and of the code it imports.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import sys
import time
import traceback
from pathlib import Path

CELL = re.compile(r"^# %%(.*)$")
# Framework log lines (glog format: TensorFlow, XLA, torch's C++ and Python loggers) are not the
# program's output; they are dropped from the page (they still go to the build's log on failure).
LOG_LINE = re.compile(r"^(?:[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ |WARNING: All log messages before absl)")
MAX_OUTPUT_LINES = 60  # longer outputs are cut in the middle: a page is not a log file


def parse(text):
    """``[(kind, source)]`` with kind ``"markdown"`` or ``"code"``; the text before the first
    marker (a docstring, a shebang) is a code cell if it holds code."""
    cells, kind, lines = [], "code", []

    def flush():
        source = "\n".join(lines).strip("\n")
        if source.strip():
            if kind == "markdown":
                source = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in source.splitlines())
            cells.append((kind, source))

    for line in text.splitlines():
        m = CELL.match(line)
        if m:
            flush()
            kind, lines = ("markdown" if "[markdown]" in m.group(1) else "code"), []
        else:
            lines.append(line)
    flush()
    return cells


def _clean(text):
    """Terminal output as a reader sees it: carriage-return rewrites and backspaces applied,
    colour codes removed, long outputs cut."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
    out = []
    for line in text.split("\n"):
        while "\x08" in line:  # a backspace erases the character before it
            erased = re.sub(r"[^\x08]\x08", "", line, count=1)
            line = erased if erased != line else line.replace("\x08", "", 1)
        out.append(line.rstrip("\r").split("\r")[-1])  # what is left after the last rewrite
    lines = [l for l in "\n".join(out).rstrip().split("\n") if not LOG_LINE.match(l)]
    if len(lines) > MAX_OUTPUT_LINES:
        half = MAX_OUTPUT_LINES // 2
        lines = lines[:half] + [f"... ({len(lines) - 2 * half} lines cut) ..."] + lines[-half:]
    return "\n".join(lines) if any(l.strip() for l in lines) else ""


def execute(script):
    """Run ``script``'s cells; returns the record (cells with outputs, figures as base64 PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.show = lambda *args, **kwargs: None  # figures are captured after each cell
    path = Path(script).resolve()
    namespace = {"__name__": "__main__", "__file__": str(path)}
    record = {"script": str(script), "cells": [], "error": None}
    sys.argv = [str(path)]
    sys.path[0] = str(path.parent)  # as `python docs/tutorials/x.py` has it
    start = time.perf_counter()
    for index, (kind, source) in enumerate(parse(path.read_text(encoding="utf-8"))):
        cell = {"kind": kind, "source": source}
        record["cells"].append(cell)
        if kind != "code":
            continue
        buffer = io.StringIO()
        cell_start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                exec(compile(source + "\n", f"{script} (cell {index + 1})", "exec"), namespace)
        except BaseException:  # noqa: BLE001  (the page must say what failed, then the build stops)
            cell["output"] = _clean(buffer.getvalue())
            record["error"] = {"cell": index + 1, "source": source, "traceback": traceback.format_exc()}
            break
        finally:
            cell["seconds"] = round(time.perf_counter() - cell_start, 2)
        cell["output"] = _clean(buffer.getvalue())
        cell["figures"] = []
        for number in plt.get_fignums():
            png = io.BytesIO()
            plt.figure(number).savefig(png, format="png", dpi=96, bbox_inches="tight")
            cell["figures"].append(base64.b64encode(png.getvalue()).decode("ascii"))
        plt.close("all")
    record["seconds"] = round(time.perf_counter() - start, 1)
    return record


def title(text):
    """The first Markdown heading of a tutorial's source (its page title)."""
    for kind, source in parse(text):
        if kind == "markdown":
            for line in source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


def render(record, name, image_dir, meta):
    """``(markdown, {relative image path: png bytes})`` of an executed tutorial's page."""
    parts, images = [], {}
    source_link = f"[`docs/tutorials/{name}.py`]({name}.py)"
    note = (f'!!! note "This page is a script"\n    Generated by running {source_link} '
            f"({meta}). Run it yourself from the repository root: "
            f"`.venv/bin/python docs/tutorials/{name}.py`.\n")
    titled = [i for i, c in enumerate(record["cells"]) if c["kind"] == "markdown"
              and any(line.startswith("# ") for line in c["source"].splitlines())]
    if not titled:
        parts.append(note)
    for i, cell in enumerate(record["cells"]):
        if cell["kind"] == "markdown":
            parts.append(cell["source"])
            if titled and i == titled[0]:
                parts.append(note)  # right under the title
            continue
        parts.append(f"```python\n{cell['source']}\n```")
        if cell.get("output"):
            parts.append('<div class="tutorial-output" markdown>\n\n```text\n' + cell["output"] + "\n```\n\n</div>")
        for k, png in enumerate(cell.get("figures", [])):
            rel = f"{image_dir}/cell{i + 1}-{k + 1}.png"
            images[rel] = base64.b64decode(png)
            parts.append(f"![figure {k + 1} of cell {i + 1}]({rel})")
    return "\n\n".join(parts) + "\n", images


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    script, out = argv
    record = execute(script)
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.replace(out)  # a reader never sees half a record
    if record["error"]:
        sys.stderr.write(record["error"]["traceback"])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
