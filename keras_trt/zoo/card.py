"""Hugging Face model cards (``README.md`` with YAML front matter) for presets.

The front matter is what the Hub indexes: ``library_name: keras``, the tags
``spiking-neural-network`` and ``keras-trt``, the dataset, the licence and a ``model-index``
holding the measured metrics (shown as an evaluation table on the model page).

>>> from keras_trt.zoo.card import render_model_card
>>> text = render_model_card({"name": "tiny", "dataset": "mnist", "metrics": {"accuracy": 0.98},
...                           "license": "apache-2.0", "timesteps": 4})
>>> text.splitlines()[0]
'---'
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

TAGS = ("spiking-neural-network", "keras-trt", "keras")

# metric name -> Hub metric type (https://huggingface.co/metrics); anything else is kept as given.
_METRIC_TYPES = {"acc": "accuracy", "accuracy": "accuracy", "top1": "accuracy", "top-1": "accuracy"}


_PLAIN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_NUMBER_RE = re.compile(r"^[-+.]?[0-9]|^\.(inf|nan)$", re.IGNORECASE)
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def _scalar(value: Any) -> str:
    """YAML for a scalar. JSON strings are valid YAML double-quoted scalars."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    text = str(value)
    if _PLAIN_RE.match(text) and text.lower() not in _YAML_WORDS and not _NUMBER_RE.match(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Serialize nested dicts/lists/scalars as block-style YAML (no dependency on PyYAML).

    >>> print(to_yaml({"tags": ["a", "b"], "n": 1, "s": "yes"}))
    tags:
    - a
    - b
    n: 1
    s: "yes"
    """
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            key_text = key if isinstance(key, str) and key.replace("-", "").replace("_", "").isalnum() else json.dumps(str(key))
            if isinstance(item, (Mapping, list, tuple)) and len(item):
                lines.append(f"{pad}{key_text}:")
                lines.append(to_yaml(item, indent if isinstance(item, (list, tuple)) else indent + 2))
            elif isinstance(item, Mapping):
                lines.append(f"{pad}{key_text}: {{}}")
            elif isinstance(item, (list, tuple)):
                lines.append(f"{pad}{key_text}: []")
            else:
                lines.append(f"{pad}{key_text}: {_scalar(item)}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, Mapping) and len(item):
                body = to_yaml(item, indent + 2).splitlines()
                lines.append(f"{pad}- {body[0].lstrip()}")
                lines.extend(body[1:])
            elif isinstance(item, (list, tuple)) and len(item):
                body = to_yaml(item, indent + 2).splitlines()
                lines.append(f"{pad}- {body[0].lstrip()}")
                lines.extend(body[1:])
            else:
                lines.append(f"{pad}- {_scalar(item) if not isinstance(item, (Mapping, list, tuple)) else '[]'}")
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return "\n".join(lines)


def _task(meta: Mapping[str, Any]) -> str:
    task = meta.get("task") or (meta.get("extra") or {}).get("task")
    if task:
        return str(task)
    shape = meta.get("input_shape")
    if isinstance(shape, (list, tuple)) and len(shape) in (3, 4):
        return "image-classification"
    return "other"


def card_metadata(meta: Mapping[str, Any]) -> dict:
    """The YAML front matter (as a dict) of a preset's model card.

    >>> card_metadata({"name": "tiny", "dataset": "mnist", "metrics": {"accuracy": 0.9}})["library_name"]
    'keras'
    """
    front: dict[str, Any] = {"library_name": "keras"}
    if meta.get("license"):
        front["license"] = str(meta["license"])
    front["tags"] = list(TAGS)
    dataset = meta.get("dataset")
    if dataset:
        front["datasets"] = [str(dataset)]
    task = _task(meta)
    if task != "other":
        front["pipeline_tag"] = task
    metrics = {k: v for k, v in (meta.get("metrics") or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if metrics and dataset:
        task_name = task.replace("-", " ").title() if task != "other" else "Classification"
        front["model-index"] = [
            {
                "name": str(meta.get("name") or "model"),
                "results": [
                    {
                        "task": {"type": task if task != "other" else "other", "name": task_name},
                        "dataset": {"type": str(dataset), "name": str(dataset)},
                        "metrics": [
                            {"type": _METRIC_TYPES.get(k.lower(), k), "value": float(v), "name": k}
                            for k, v in metrics.items()
                        ],
                    }
                ],
            }
        ]
    return front


def _fmt_int(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else "-"


def render_model_card(meta: Mapping[str, Any], description: str | None = None) -> str:
    """Render ``README.md`` (front matter + a short human-readable card) from preset metadata.

    ``meta`` holds the fields of ``metadata.json`` (name, dataset, timesteps, metrics, license,
    parameters, backend, versions...).

    >>> text = render_model_card({"name": "tiny", "dataset": "mnist", "metrics": {"accuracy": 0.9}},
    ...                          description="A tiny test model.")
    >>> "library_name: keras" in text and "A tiny test model." in text
    True
    """
    name = str(meta.get("name") or "model")
    front = card_metadata(meta)
    lines = ["---", to_yaml(front), "---", "", f"# {name}", ""]
    desc = description if description is not None else meta.get("description")
    lines += [str(desc).strip() if desc else "A spiking neural network saved with keras-trt (Keras 3).", ""]
    rows = [
        ("Architecture", meta.get("architecture") or meta.get("class_name") or "-"),
        ("Dataset", meta.get("dataset") or "-"),
        ("Timesteps (T)", meta.get("timesteps") if meta.get("timesteps") is not None else "-"),
        ("Classes", meta.get("num_classes") if meta.get("num_classes") is not None else "-"),
        ("Input shape", tuple(meta["input_shape"]) if meta.get("input_shape") else "-"),
        ("Parameters", _fmt_int(meta.get("parameters"))),
        ("Saved with", f"keras {meta.get('keras_version', '?')} ({meta.get('backend', '?')} backend), "
                       f"keras-trt {meta.get('keras_trt_version', '?')}"),
        ("Licence", meta.get("license") or "-"),
    ]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows] + [""]
    metrics = meta.get("metrics") or {}
    if metrics:
        lines += ["## Measured metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()] + [""]
    lines += [
        "## Usage",
        "",
        "```python",
        "from keras_trt import zoo",
        "",
        'model = zoo.load("hf://<org>/<repo>")          # or a local preset folder, or a registered name',
        'finetune = zoo.load("hf://<org>/<repo>", num_classes=5, freeze_backbone=True)',
        "```",
        "",
        "The files are checked against the sha256 hashes in `metadata.json` before use, and the "
        "model is rebuilt from `config.json` without running any code from the repository.",
        "",
    ]
    return "\n".join(lines)


def parse_front_matter(text: str) -> str | None:
    """Return the YAML text between the leading ``---`` fences of a model card, or ``None``.

    >>> parse_front_matter("---\\na: 1\\n---\\n# x")
    'a: 1'
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i])
    return None


__all__ = ["render_model_card", "card_metadata", "to_yaml", "parse_front_matter", "TAGS"]
