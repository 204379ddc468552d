"""Hugging Face model cards (``README.md`` with YAML front matter) for presets.

Built with ``huggingface_hub``'s own :class:`~huggingface_hub.ModelCard` and
:class:`~huggingface_hub.ModelCardData`, so the front matter is exactly what the Hub indexes:
``library_name: keras``, the tags ``spiking-neural-network`` and ``keras-trt``, the dataset, the
licence and a ``model-index`` holding the measured metrics (the evaluation table on the model page).

>>> from keras_trt.zoo.card import model_card
>>> card = model_card({"name": "tiny", "dataset": "mnist", "metrics": {"accuracy": 0.98},
...                    "license": "apache-2.0", "timesteps": 4})
>>> card.data.library_name, card.data.eval_results[0].metric_value
('keras', 0.98)
"""

from __future__ import annotations

from typing import Any, Mapping

TAGS = ("spiking-neural-network", "keras-trt", "keras")

# metric name -> Hub metric type (https://huggingface.co/metrics); anything else is kept as given.
_METRIC_TYPES = {"acc": "accuracy", "accuracy": "accuracy", "top1": "accuracy", "top-1": "accuracy"}


def _task(meta: Mapping[str, Any]) -> str | None:
    task = meta.get("task") or (meta.get("extra") or {}).get("task")
    if task:
        return str(task)
    shape = meta.get("input_shape")
    if isinstance(shape, (list, tuple)) and len(shape) in (3, 4):
        return "image-classification"
    return None


def card_data(meta: Mapping[str, Any]):
    """The front matter of a preset's card as a :class:`huggingface_hub.ModelCardData`.

    >>> card_data({"name": "tiny", "dataset": "mnist", "metrics": {"accuracy": 0.9}}).library_name
    'keras'
    """
    from huggingface_hub import EvalResult, ModelCardData

    dataset = str(meta["dataset"]) if meta.get("dataset") else None
    task = _task(meta)
    metrics = {
        k: float(v)
        for k, v in (meta.get("metrics") or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    results = None
    if metrics and dataset:
        results = [
            EvalResult(
                task_type=task or "other", dataset_type=dataset, dataset_name=dataset,
                metric_type=_METRIC_TYPES.get(k.lower(), k), metric_value=v, metric_name=k,
            )
            for k, v in metrics.items()
        ]
    return ModelCardData(
        library_name="keras",
        license=str(meta["license"]) if meta.get("license") else None,
        tags=list(TAGS),
        datasets=[dataset] if dataset else None,
        pipeline_tag=task,
        model_name=str(meta.get("name") or "model") if results else None,
        eval_results=results,
    )


def card_metadata(meta: Mapping[str, Any]) -> dict:
    """The front matter as a plain dict (what the Hub stores as the card's metadata).

    >>> card_metadata({"name": "tiny", "dataset": "mnist", "metrics": {"accuracy": 0.9}})["model-index"][0]["name"]
    'tiny'
    """
    return card_data(meta).to_dict()


def _fmt_int(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) and not isinstance(n, bool) else "-"


def _body(meta: Mapping[str, Any], description: str | None) -> str:
    name = str(meta.get("name") or "model")
    desc = description if description is not None else meta.get("description")
    lines = [f"# {name}", "", str(desc).strip() if desc else "A spiking neural network saved with keras-trt (Keras 3).", ""]
    rows = [
        ("Architecture", meta.get("architecture") or meta.get("class_name") or "-"),
        ("Dataset", meta.get("dataset") or "-"),
        ("Timesteps (T)", meta.get("timesteps") if meta.get("timesteps") is not None else "-"),
        ("Classes", meta.get("num_classes") if meta.get("num_classes") is not None else "-"),
        ("Input shape", tuple(meta["input_shape"]) if meta.get("input_shape") else "-"),
        ("Trainable parameters", _fmt_int(meta.get("parameters"))),
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
        'model = zoo.load("hf://<org>/<repo>")        # or a local preset folder, or a registered name',
        'model.predict(x)',
        'tuned = zoo.load("hf://<org>/<repo>", num_classes=5, freeze_backbone=True)',
        "tuned.fit(x_new, y_new)                      # compiled for fine-tuning: trains the new head",
        'features = zoo.load("hf://<org>/<repo>", include_top=False)   # spike features [B, T, C]',
        "```",
        "",
        "The files are checked against the sha256 hashes in `metadata.json` before use, and the "
        "model is rebuilt from `config.json` without running any code from the repository.",
        "",
    ]
    return "\n".join(lines)


def model_card(meta: Mapping[str, Any], description: str | None = None):
    """The model card (a :class:`huggingface_hub.ModelCard`) of a preset from its metadata.

    ``meta`` holds the fields of ``metadata.json`` (name, dataset, timesteps, metrics, license,
    parameters, backend, versions...).

    >>> card = model_card({"name": "tiny", "dataset": "mnist", "metrics": {"accuracy": 0.9}},
    ...                   description="A tiny test model.")
    >>> "A tiny test model." in card.text
    True
    """
    from huggingface_hub import ModelCard

    return ModelCard(f"---\n{card_data(meta).to_yaml()}\n---\n\n{_body(meta, description)}")


def render_model_card(meta: Mapping[str, Any], description: str | None = None) -> str:
    """``README.md`` text (front matter + card) of a preset: ``str(model_card(meta, description))``.

    >>> render_model_card({"name": "tiny"}).splitlines()[0]
    '---'
    """
    return str(model_card(meta, description))


def has_front_matter(text: str) -> bool:
    """Whether a card's text starts with YAML metadata the Hub reads.

    >>> has_front_matter("---\\nlicense: mit\\n---\\n# x"), has_front_matter("# x")
    (True, False)
    """
    from huggingface_hub import ModelCard

    return bool(ModelCard(text, ignore_metadata_errors=True).data.to_dict())


__all__ = ["model_card", "render_model_card", "card_data", "card_metadata", "has_front_matter", "TAGS"]
