"""MkDocs hook: the pages generated at build time, so none is copied by hand.

- ``index.md``: the README (the front page), its ``docs/...`` links pointed into the site;
- ``tutorials/<name>.md``: every ``docs/tutorials/<name>.py`` executed (``tutorials.py``), with
  its output and figures; a failing tutorial stops the build;
- ``reference/<module>.md``: one mkdocstrings page per public module of ``keras_trt``;
- ``explanation/benchmark-method.md``: ``benchmarks/README.md``;
- markers ``<!-- generated: NAME -->`` in hand-written pages, replaced by tables made from the
  data: ``zoo-table`` (the cards in ``zoo/``, through the registry), ``results-table`` and
  ``ablation-table``, ``cheap-table`` (the summaries in ``docs/results/``), ``benchmarks`` (``benchmarks/results/*.md``).

Settings (environment): ``DOCS_BACKEND`` (Keras backend of the tutorials, default ``jax``),
``DOCS_JOBS`` (tutorials run at once, default 1), ``DOCS_CACHE=0`` (re-run every tutorial; by
default a tutorial is re-run only when it, the runner, or keras_trt/zoo changed),
``DOCS_TUTORIAL_TIMEOUT`` (seconds per tutorial, default 300), ``DOCS_TUTORIALS`` (a
comma-separated subset to run, for writing one; the others get a placeholder page).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

HOOKS = Path(__file__).resolve().parent
ROOT = HOOKS.parents[1]
DOCS = ROOT / "docs"
sys.path[:0] = [str(HOOKS), str(ROOT)]

import tutorials as tutorial_runner  # noqa: E402  (docs/hooks/tutorials.py)

log = logging.getLogger("mkdocs.hooks.keras_trt")
CACHE = ROOT / "build" / "docs-cache" / "tutorials"
MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")
# Links of the README (read on GitHub) that point outside docs/.
README_LINKS = {"benchmarks/README.md": "explanation/benchmark-method.md"}


# ----------------------------------------------------------------------------- nav


def _tutorial_names():
    return sorted(p.stem for p in (DOCS / "tutorials").glob("*.py"))


def _tutorials_to_run():
    """All tutorials, or the DOCS_TUTORIALS subset (the others get a placeholder page, so links
    to them still resolve)."""
    names = _tutorial_names()
    wanted = os.environ.get("DOCS_TUTORIALS")
    if not wanted:
        return names
    subset = {n.strip() for n in wanted.split(",") if n.strip()}
    unknown = subset - set(names)
    if unknown:
        raise PluginError(f"DOCS_TUTORIALS names no tutorial {sorted(unknown)}; there are {names}")
    return [n for n in names if n in subset]


def public_modules():
    """Dotted names of keras_trt's public modules (no path part starting with ``_``)."""
    out = []
    for path in sorted((ROOT / "keras_trt").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if not any(p.startswith("_") for p in parts):
            out.append(".".join(parts))
    return sorted(out, key=lambda n: (n.count(".") > 1, n))


def _section(nav, title):
    for item in nav:
        if isinstance(item, dict) and title in item:
            return item
    raise PluginError(f"mkdocs.yml: the nav has no {title!r} section")


def _fill_folder(entries, folder, available):
    """Listed pages of ``folder`` that exist, in the listed order, then those not listed."""
    listed = [e for e in entries if isinstance(e, str) and e.startswith(folder + "/")]
    keep = [e for e in entries if not (isinstance(e, str) and e.startswith(folder + "/"))
            or e in available or e.endswith("/index.md")]
    missing = [e for e in listed if e not in keep]
    if missing:
        log.info("nav: left out (no such page yet): %s", ", ".join(missing))
    return keep + [a for a in available if a not in entries]


def _reference_nav():
    groups, top = {}, []
    for name in public_modules():
        page = f"reference/{name}.md"
        parts = name.split(".")
        if len(parts) <= 2:
            top.append({name: page})
        else:
            groups.setdefault(".".join(parts[:2]), []).append({name: page})
    nav = ["reference/index.md"]
    for entry in top:
        (name, page), = entry.items()
        nav.append({name: [page, *groups[name]]} if name in groups else entry)
    return nav


TUTORIAL_ORDER = []  # the tutorials' names in nav order (set by on_config)


def on_config(config, **kwargs):
    nav = config["nav"]
    tut = _section(nav, "Tutorials")
    tut["Tutorials"] = _fill_folder(tut["Tutorials"], "tutorials", [f"tutorials/{n}.md" for n in _tutorial_names()])
    TUTORIAL_ORDER[:] = [e[len("tutorials/"):-3] for e in tut["Tutorials"] if isinstance(e, str) and not e.endswith("index.md")]
    res = _section(nav, "Results")
    pages = [f"results/{p.name}" for p in sorted((DOCS / "results").glob("*.md")) if p.name != "index.md"]
    res["Results"] = _fill_folder(res["Results"], "results", pages)
    for title, folder in (("How-to", "how-to"), ("Explanation", "explanation")):
        sec = _section(nav, title)  # a page added to the folder is listed without a nav edit
        pages = [f"{folder}/{p.name}" for p in sorted((DOCS / folder).glob("*.md"))]
        if folder == "explanation":
            pages.append("explanation/benchmark-method.md")  # generated
        sec[title] = _fill_folder(sec[title], folder, pages)
    _section(nav, "Reference")["Reference"] = _reference_nav()
    return config


# ----------------------------------------------------------------------------- tutorials


def _digest(paths):
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _code_digest():
    """What a tutorial's result depends on besides its own text: the library, the zoo, and how the
    runner executes (not how the page is rendered from its record, which is redone every build)."""
    import inspect

    files = sorted((ROOT / "keras_trt").rglob("*.py")) + sorted(p for p in (ROOT / "zoo").rglob("*") if p.is_file())
    runner = "".join(inspect.getsource(f) for f in (tutorial_runner.parse, tutorial_runner._clean,
                                                      tutorial_runner.execute, tutorial_runner.main))
    return hashlib.sha256(runner.encode() + _digest(files).encode()).hexdigest()


def _run_tutorial(name, backend, code_digest, timeout):
    script = DOCS / "tutorials" / f"{name}.py"
    key = hashlib.sha256(f"{backend}\n{code_digest}\n".encode() + script.read_bytes()).hexdigest()[:20]
    cached = CACHE / f"{name}-{key}.json"
    if os.environ.get("DOCS_CACHE", "1") != "0" and cached.is_file():
        return name, json.loads(cached.read_text()), True
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"{name}-{key}.running.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(HOOKS / "tutorials.py"), str(script.relative_to(ROOT)), str(out)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PluginError(f"tutorial docs/tutorials/{name}.py ran past {timeout} s (DOCS_TUTORIAL_TIMEOUT): "
                          "tutorials must stay small (well under 90 s on 2 cores).") from None
    if not out.is_file():
        raise PluginError(f"tutorial docs/tutorials/{name}.py did not run:\n{proc.stderr[-4000:]}")
    record = json.loads(out.read_text())
    if record["error"] or proc.returncode:
        out.unlink()
        err = record["error"] or {"cell": "?", "source": "", "traceback": proc.stderr[-4000:]}
        raise PluginError(f"tutorial docs/tutorials/{name}.py failed in cell {err['cell']}:\n"
                          f"{err['source']}\n\n{err['traceback']}")
    for stale in CACHE.glob(f"{name}-*.json"):
        if stale != out:
            stale.unlink()
    out.replace(cached)
    return name, record, False


def _placeholder(name):
    title = tutorial_runner.title((DOCS / "tutorials" / f"{name}.py").read_text(encoding="utf-8")) or name
    return (f"# {title}\n\n!!! warning \"Not executed in this build\"\n    `DOCS_TUTORIALS` left this "
            f"tutorial out; the script is [`docs/tutorials/{name}.py`]({name}.py).\n")


def _tutorial_files(config):
    names = _tutorials_to_run()
    files = [File.generated(config, f"tutorials/{n}.md", content=_placeholder(n))
             for n in _tutorial_names() if n not in names]
    if not names:
        return files
    backend = os.environ.get("DOCS_BACKEND", "jax")
    jobs = max(1, int(os.environ.get("DOCS_JOBS", "1")))
    timeout = float(os.environ.get("DOCS_TUTORIAL_TIMEOUT", "300"))
    digest = _code_digest()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda n: _run_tutorial(n, backend, digest, timeout), names))
    import keras_trt

    for name, record, cached in results:
        log.info("tutorial %s: %s s%s", name, record["seconds"], " (cached)" if cached else "")
        meta = f"keras-trt {keras_trt.__version__}, `KERAS_BACKEND={backend}`, {record['seconds']:.0f} s"
        md, images = tutorial_runner.render(record, name, f"{name}_files", meta)
        files.append(File.generated(config, f"tutorials/{name}.md", content=md))
        files += [File.generated(config, f"tutorials/{rel}", content=png) for rel, png in images.items()]
    log.info("tutorials: %d in %.1f s", len(results), time.perf_counter() - start)
    return files


# ----------------------------------------------------------------------------- other pages


def readme_as_index():
    """The README with its links into ``docs/`` made relative to the site's root."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")

    def link(m):
        target = m.group(1)
        path, hashmark, anchor = target.partition("#")
        if path in README_LINKS:
            target = README_LINKS[path] + hashmark + anchor
        elif target.startswith("docs/"):
            target = target[len("docs/"):]
            path, _, anchor = target.partition("#")
            if path.startswith("tutorials/") and path.endswith(".py"):
                target = path[:-3] + ".md" + (f"#{anchor}" if anchor else "")
        return f"]({target})"

    return re.sub(r"\]\(([^)\s]+)\)", link, text)


def reference_page(name):
    level = "show_submodules: false"
    return (f"# `{name}`\n\n::: {name}\n    options:\n      show_root_heading: false\n"
            f"      show_root_toc_entry: false\n      {level}\n")


def reference_index():
    rows = ["# API reference", "",
            "Every public module of `keras_trt`, rendered from its docstrings (the `>>>` examples "
            "run as doctests in the test suite, so what they show is what the code does).", "",
            "| module | what it holds |", "|---|---|"]
    for name in public_modules():
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.is_file():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        doc = _first_line(path.read_text(encoding="utf-8"))
        rows.append(f"| [`{name}`]({name}.md) | {doc} |")
    return "\n".join(rows) + "\n"


def _first_line(source):
    m = re.match(r'\s*(?:#[^\n]*\n\s*)*[rub]*"""(.*?)(?:\n\n|""")', source, re.S)
    return " ".join(m.group(1).split()).replace("|", "\\|") if m else ""


def on_files(files, config, **kwargs):
    generated = [File.generated(config, "index.md", content=readme_as_index()),
                 File.generated(config, "reference/index.md", content=reference_index()),
                 File.generated(config, "explanation/benchmark-method.md",
                                content=(ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8"))]
    generated += [File.generated(config, f"reference/{n}.md", content=reference_page(n)) for n in public_modules()]
    generated += _tutorial_files(config)
    for f in generated:
        if files.get_file_from_path(f.src_uri) is not None:
            raise PluginError(f"docs/{f.src_uri} is generated at build time: remove the file from docs/")
        files.append(f)
    return files


def _generated(name):
    if name == "zoo-table":
        from training import zoo_table

        return zoo_table.table()
    if name in ("results-table", "ablation-table", "cheap-table"):
        from training import results_table

        summaries = results_table.load(DOCS / "results")
        return {"results-table": results_table.table, "ablation-table": results_table.ablation_table,
                "cheap-table": results_table.cheap_table}[name](summaries)
    if name == "tutorial-list":
        rows = []
        for n in TUTORIAL_ORDER:
            text = (DOCS / "tutorials" / f"{n}.py").read_text(encoding="utf-8")
            rows.append(f"- [{tutorial_runner.title(text) or n}]({n}.md) (`docs/tutorials/{n}.py`)")
        return "\n".join(rows)
    if name == "benchmarks":
        parts = []
        results = ROOT / "benchmarks" / "results"
        # One record per CPU kind (latest.md is the newest of them again), then the other benchmarks.
        paths = (sorted((results / "cpus").glob("*.md")) + sorted(p for p in results.glob("*.md") if p.stem != "latest")
                 + sorted((results / "spikformer").glob("*.md"))  # the transformer's own table
                 + sorted((results / "profiles").glob("*.md")))  # benchmarks.profile_step
        for path in paths:
            parts += [f"### `{path.relative_to(ROOT)}`", "", path.read_text(encoding="utf-8").strip(), ""]
        return "\n".join(parts)
    raise PluginError(f"unknown generated block {name!r} (known: zoo-table, results-table, ablation-table, cheap-table, benchmarks, tutorial-list)")


def on_page_markdown(markdown, page, config, files, **kwargs):
    return MARKER.sub(lambda m: _generated(m.group(1)), markdown)
