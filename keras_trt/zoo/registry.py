"""The zoo registry: models known by name.

The source of truth is the repository's top-level ``zoo/`` folder, one folder per model::

    zoo/<name>/card.json     the registry card (schema below)
    zoo/<name>/README.md     the model card
    zoo/<name>/metadata.json, config.json, model.weights.h5
                             optional: the preset itself, for small models trained here and
                             committed to git (then ``load(name)`` needs no network)

An installed keras-trt carries the same folder as the package ``keras_trt._zoo_cards`` (a
setuptools ``package-dir`` mapping of ``zoo/``), read here with :mod:`importlib.resources`; a source
checkout (``PYTHONPATH`` or editable install) falls back to the repository's ``zoo/`` folder.
Extra card folders can be added with the ``KERAS_TRT_ZOO_PATH`` environment variable (``os.pathsep``
separated; each entry is a card folder or a folder of card folders) or at runtime with
:func:`register`. Precedence on equal names: :func:`register` > ``KERAS_TRT_ZOO_PATH`` > built-in.

Card schema (``card.json``; only ``name`` is required, unknown keys are kept)::

    {
      "schema_version": 1,
      "name": "sresnet20-mnist-t2",         # must be unique; [A-Za-z0-9][A-Za-z0-9._-]*
      "architecture": "sresnet20",          # name for keras_trt.models.build
      "build": {"num_classes": 10, "timesteps": 2, "input_shape": [28, 28, 1], "width_multiplier": 0.5},
      "dataset": "mnist-5k",
      "timesteps": 2,
      "num_classes": 10,
      "input_shape": [28, 28, 1],
      "parameters": 68642,                  # optional, shown by list()
      "size_bytes": 1363278,                # optional, total preset size, shown by list()
      "hub": {"repo": "org/sresnet20-mnist-t2", "revision": "<40-hex commit>"} | null,
      "files": {"metadata.json": "<sha256>", "config.json": "<sha256>", ...},   # the trust anchor
      "metrics": {"accuracy": 0.606},
      "recipe": "sresnet20-mnist-t2",      # a training/recipes name: python -m training.train <recipe>
      "license": "apache-2.0",
      "published": true,                    # weights are downloadable from "hub"
      "notes": "free text: how the weights were obtained, how to convert a PyTorch checkpoint..."
    }

>>> from keras_trt import zoo
>>> rows = zoo.list(show=False)
>>> isinstance(rows, list)
True
"""

from __future__ import annotations

import builtins
import copy
import difflib
import importlib.resources
import importlib.util
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from keras_trt.zoo.errors import PresetFormatError, UnknownModelError
from keras_trt.zoo.integrity import validate_hash_table

CARD_FILE = "card.json"
CARD_SCHEMA_VERSION = 1
ENV_PATH = "KERAS_TRT_ZOO_PATH"
INSTALLED_PACKAGE = "keras_trt._zoo_cards"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_RUNTIME: dict[str, "Entry"] = {}


@dataclass
class Entry:
    """One registered model: its card, the folder holding it (if any) and where it came from."""

    card: dict
    folder: Path | None = None
    origin: str = "builtin"  # "builtin", "path" (KERAS_TRT_ZOO_PATH) or "runtime" (register())
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def has_local_preset(self) -> bool:
        return bool(
            self.folder is not None
            and (self.folder / "metadata.json").is_file()
            and (self.folder / "config.json").is_file()
        )

    @property
    def hub(self) -> dict | None:
        hub = self.card.get("hub")
        return hub if isinstance(hub, dict) and hub.get("repo") else None

    @property
    def weights(self) -> str:
        """``"local"`` (preset in the card folder), ``"hub"`` (published on the Hub) or ``"none"``."""
        if self.has_local_preset:
            return "local"
        if self.hub and self.hub.get("revision") and self.card.get("published", True) is not False:
            return "hub"
        return "none"


def _normalize(card: Any, where: str, default_name: str | None = None) -> dict:
    if not isinstance(card, Mapping):
        raise PresetFormatError(f"{where}: a zoo card must be a JSON object, got {type(card).__name__}.")
    card = copy.deepcopy(dict(card))
    name = card.get("name", default_name)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PresetFormatError(
            f"{where}: invalid or missing card 'name' {name!r} (letters, digits, '.', '_', '-'; starting with a letter or digit)."
        )
    card["name"] = name
    hub = card.get("hub")
    if hub is not None:
        if not isinstance(hub, Mapping) or not isinstance(hub.get("repo"), str) or "/" not in hub["repo"]:
            raise PresetFormatError(f"{where}: 'hub' must be null or {{\"repo\": \"org/name\", \"revision\": \"<commit>\"}}, got {hub!r}.")
        if hub.get("revision") is not None and not isinstance(hub.get("revision"), str):
            raise PresetFormatError(f"{where}: hub 'revision' must be a string (a commit hash), got {hub.get('revision')!r}.")
    card["files"] = validate_hash_table(card.get("files") or {}, where)
    for key, kind in (("build", Mapping), ("metrics", Mapping)):
        if card.get(key) is not None and not isinstance(card[key], kind):
            raise PresetFormatError(f"{where}: '{key}' must be a JSON object, got {card[key]!r}.")
    if card.get("timesteps") is not None and not isinstance(card["timesteps"], int):
        raise PresetFormatError(f"{where}: 'timesteps' must be an integer, got {card['timesteps']!r}.")
    return card


def read_card(folder: str | os.PathLike) -> dict:
    """Read and validate ``<folder>/card.json``.

    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "demo"; d.mkdir()
    >>> _ = (d / "card.json").write_text(json.dumps({"name": "demo", "architecture": "lif_mlp"}))
    >>> read_card(d)["architecture"]
    'lif_mlp'
    """
    folder = Path(folder)
    file = folder / CARD_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise PresetFormatError(f"{folder} has no {CARD_FILE}. Fix: add a card (see keras_trt.zoo.registry for the schema).") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PresetFormatError(f"{file} is not valid JSON ({err}). Fix the file.") from err
    return _normalize(data, str(file), default_name=folder.name)


def builtin_cards_dir() -> Path | None:
    """The folder holding the built-in cards: the installed ``keras_trt._zoo_cards`` package data,
    else the ``zoo/`` folder of the source checkout this module runs from, else ``None``.

    >>> d = builtin_cards_dir()
    >>> d is None or d.is_dir()
    True
    """
    try:
        root = importlib.resources.files(INSTALLED_PACKAGE)
    except (ModuleNotFoundError, TypeError, ValueError):
        root = None
    if root is not None:
        try:
            candidate = Path(os.fspath(root))
        except TypeError:  # a namespace package (no __init__.py) gives a MultiplexedPath
            spec = importlib.util.find_spec(INSTALLED_PACKAGE)
            locations = list(spec.submodule_search_locations or []) if spec is not None else []
            candidate = Path(locations[0]) if locations else None
        if candidate is not None and candidate.is_dir():
            return candidate
    checkout = Path(__file__).resolve().parents[2]
    if checkout.name not in ("site-packages", "dist-packages") and (checkout / "zoo").is_dir():
        return checkout / "zoo"
    return None


def _scan(directory: Path, origin: str, entries: dict, broken: dict) -> None:
    if not directory.is_dir():
        return
    folders = [directory] if (directory / CARD_FILE).is_file() else sorted(p for p in directory.iterdir() if p.is_dir())
    for folder in folders:
        if not (folder / CARD_FILE).is_file():
            continue
        try:
            card = read_card(folder)
        except PresetFormatError as err:
            broken.setdefault(folder.name, err)
            continue
        entries.setdefault(card["name"], Entry(card=card, folder=folder, origin=origin))


def entries() -> dict[str, Entry]:
    """All registered models by name (runtime > ``KERAS_TRT_ZOO_PATH`` > built-in), re-read on each call.

    >>> isinstance(entries(), dict)
    True
    """
    found, broken = _collect()
    for name, err in broken.items():
        if name not in found:
            warnings.warn(f"Skipping zoo card '{name}': {err}", stacklevel=2)
    return found


def _collect() -> tuple[dict[str, Entry], dict[str, Exception]]:
    found: dict[str, Entry] = dict(_RUNTIME)
    broken: dict[str, Exception] = {}
    for part in os.environ.get(ENV_PATH, "").split(os.pathsep):
        if part.strip():
            _scan(Path(part).expanduser(), "path", found, broken)
    builtin = builtin_cards_dir()
    if builtin is not None:
        _scan(builtin, "builtin", found, broken)
    return found, broken


def names() -> list[str]:
    """Sorted names of all registered models.

    >>> isinstance(names(), list)
    True
    """
    return sorted(entries())


def unknown_name_error(name: str, *, hint: str = "") -> UnknownModelError:
    """Build the :class:`UnknownModelError` for ``name``, listing close matches.

    >>> print(unknown_name_error("sresnet20-mnist"))
    Unknown zoo model 'sresnet20-mnist'. Did you mean: 'sresnet20-mnist-t2'...
    """
    known = sorted(_collect()[0])
    lowered = {n.lower(): n for n in known}
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if name.lower() in lowered and lowered[name.lower()] not in close:
        close.insert(0, lowered[name.lower()])
    close += [n for n in known if name.lower() in n.lower() and n not in close][: max(0, 3 - len(close))]
    message = f"Unknown zoo model {name!r}."
    if close:
        message += f" Did you mean: {', '.join(repr(c) for c in close)}?"
    message += (
        " A handle is a registered name (see keras_trt.zoo.list()), a local preset folder, or 'hf://org/repo[@revision]'."
    )
    if hint:
        message += " " + hint
    return UnknownModelError(message)


def get(name: str) -> Entry:
    """The :class:`Entry` registered as ``name``; :class:`UnknownModelError` (with suggestions) if none.

    >>> get("no-such-model")
    Traceback (most recent call last):
    keras_trt.zoo.errors.UnknownModelError: Unknown zoo model 'no-such-model'. ...
    """
    found, broken = _collect()
    if name in found:
        return found[name]
    if name in broken:
        raise broken[name]
    raise unknown_name_error(name)


def lookup(name: str) -> Entry | None:
    """Like :func:`get` but returns ``None`` for unknown names.

    >>> lookup("no-such-model") is None
    True
    """
    found, broken = _collect()
    if name in found:
        return found[name]
    if name in broken:
        raise broken[name]
    return None


def register(card: Mapping[str, Any] | str | os.PathLike, *, folder: str | os.PathLike | None = None, overwrite: bool = False) -> dict:
    """Register a model under a name for this process; return its (validated) card.

    ``card`` is a card dict (schema in :mod:`keras_trt.zoo.registry`) or a folder holding
    ``card.json`` (and possibly the preset itself). ``folder`` points a card dict at a local preset
    folder. Registering an existing name needs ``overwrite=True``.

    >>> from keras_trt import zoo
    >>> card = zoo.register({"name": "my-snn", "hub": {"repo": "me/my-snn", "revision": "0" * 40},
    ...                      "files": {}, "dataset": "mnist", "timesteps": 4})
    >>> zoo.info("my-snn", show=False)["weights"]
    'hub'
    >>> zoo.unregister("my-snn")
    """
    if isinstance(card, (str, os.PathLike)):
        card_folder = Path(card).expanduser()
        data = read_card(card_folder)
        folder = folder if folder is not None else card_folder
    else:
        data = _normalize(card, "register()")
    name = data["name"]
    if not overwrite and name in _collect()[0]:
        raise ValueError(f"A zoo model named {name!r} is already registered. Fix: pass overwrite=True or pick another name.")
    entry = Entry(card=data, folder=Path(folder).expanduser() if folder is not None else None, origin="runtime")
    _RUNTIME[name] = entry
    return copy.deepcopy(data)


def unregister(name: str) -> None:
    """Remove a model registered with :func:`register` in this process.

    >>> from keras_trt import zoo
    >>> _ = zoo.register({"name": "tmp-model", "architecture": "lif_mlp"})
    >>> zoo.unregister("tmp-model")
    """
    if name not in _RUNTIME:
        raise unknown_name_error(name, hint="(only models added with keras_trt.zoo.register() can be unregistered)")
    del _RUNTIME[name]


# --------------------------------------------------------------------------- list / info


def _accuracy(metrics: Mapping[str, Any] | None) -> float | None:
    for key in ("accuracy", "top1", "top-1", "acc", "top1_accuracy"):
        value = (metrics or {}).get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _size(entry: Entry) -> int | None:
    size = entry.card.get("size_bytes")
    if isinstance(size, int):
        return size
    if entry.has_local_preset:
        total = 0
        for name in ("metadata.json", "config.json", "model.weights.h5", "README.md"):
            file = entry.folder / name
            if file.is_file():
                total += file.stat().st_size
        return total
    return None


def _fmt_count(n: Any) -> str:
    if not isinstance(n, int):
        return "-"
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def _fmt_bytes(n: Any) -> str:
    if not isinstance(n, int):
        return "-"
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def _fmt_acc(acc: float | None) -> str:
    if acc is None:
        return "-"
    return f"{acc * 100:.2f}%" if acc <= 1.0 else f"{acc:.2f}"


def _local_metadata(entry: Entry) -> dict:
    if not entry.has_local_preset:
        return {}
    try:
        data = json.loads((entry.folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _row(entry: Entry) -> dict:
    card = entry.card
    local = _local_metadata(entry)
    return {
        "name": entry.name,
        "architecture": card.get("architecture"),
        "dataset": card.get("dataset", local.get("dataset")),
        "timesteps": card.get("timesteps", local.get("timesteps")),
        "parameters": card.get("parameters", local.get("parameters")),
        "accuracy": _accuracy(card.get("metrics") or local.get("metrics")),
        "size_bytes": _size(entry),
        "license": card.get("license"),
        "weights": entry.weights,
    }


_COLUMNS = (
    ("name", "name", str),
    ("architecture", "architecture", str),
    ("dataset", "dataset", str),
    ("timesteps", "T", str),
    ("parameters", "params", _fmt_count),
    ("accuracy", "accuracy", _fmt_acc),
    ("size_bytes", "size", _fmt_bytes),
    ("license", "licence", str),
    ("weights", "weights", str),
)


def format_table(rows) -> str:
    """Format :func:`list_models` rows as a plain-text table.

    >>> print(format_table([]))
    (no models registered)
    """
    if not rows:
        return "(no models registered)"
    cells = [[h for _, h, _ in _COLUMNS]]
    for row in rows:
        cells.append(["-" if row.get(k) is None else fmt(row[k]) for k, _, fmt in _COLUMNS])
    widths = [max(len(r[i]) for r in cells) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class ModelRows(builtins.list):
    """The rows returned by :func:`list_models`: a plain list of dicts whose repr is the table."""

    def __repr__(self) -> str:
        return format_table(self)

    def table(self) -> str:
        """The table, as a string (the same as ``repr(rows)``)."""
        return format_table(self)


def list_models(show: bool = False) -> ModelRows:
    """The registered models, one dict per model; shown as a table by the REPL (its repr).

    Columns: name, architecture, dataset, T (timesteps), parameters, measured accuracy, preset size,
    licence, and where the weights are (``local``: in the zoo folder, ``hub``: published on the
    Hugging Face Hub, ``none``: not published — train them with the card's recipe). Nothing is
    printed unless ``show=True`` (for scripts: ``print(zoo.list())`` does the same).

    >>> from keras_trt import zoo
    >>> rows = zoo.list()
    >>> repr(rows).splitlines()[0].split()
    ['name', 'architecture', 'dataset', 'T', 'params', 'accuracy', 'size', 'licence', 'weights']
    >>> sorted(rows[0])[:3]
    ['accuracy', 'architecture', 'dataset']
    """
    rows = ModelRows(_row(e) for _, e in sorted(entries().items()))
    if show:
        print(format_table(rows))
    return rows


def info(name: str, show: bool = True) -> dict:
    """Print (``show=True``) and return everything known about the registered model ``name``.

    The returned dict is the card plus ``weights`` (``local`` / ``hub`` / ``none``), ``folder`` (the
    card folder, if any), ``origin`` and ``load`` (the call that loads it).

    >>> from keras_trt import zoo
    >>> zoo.info("smlp-basicmotions-t20", show=False)["weights"]
    'local'
    """
    entry = get(name)
    data = copy.deepcopy(entry.card)
    data["weights"] = entry.weights
    data["folder"] = str(entry.folder) if entry.folder is not None else None
    data["origin"] = entry.origin
    data["load"] = (
        f"keras_trt.zoo.load({name!r})" if entry.weights != "none" else f"keras_trt.zoo.load({name!r}, weights=False)"
    )
    if show:
        width = max(len(k) for k in data)
        lines = []
        for key, value in data.items():
            text = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, builtins.list)) else str(value)
            lines.append(f"{key.ljust(width)}  {text}")
        print("\n".join(lines))
    return data


__all__ = [
    "CARD_FILE",
    "ENV_PATH",
    "Entry",
    "read_card",
    "builtin_cards_dir",
    "entries",
    "names",
    "get",
    "lookup",
    "register",
    "unregister",
    "list_models",
    "info",
    "format_table",
    "unknown_name_error",
]
