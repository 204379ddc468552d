"""Anytime decisions of a streamed model: the running prediction after every step, early exit.

A streamed keras-trt model (:class:`keras_trt.streaming.Stream`) gives its output after every
step, from the readouts so far. This module turns those outputs into decisions:

- :func:`running_outputs`: the output after each step for a whole data set, ``[N, T, K]``;
- :func:`early_exit`: stop each stream at the first step whose softmax confidence (the top
  probability) or margin (top minus second probability) reaches a threshold; the decision and
  the step it was made at;
- :func:`anytime_report`: accuracy against the steps used and against the threshold (with the
  mean steps used), as a table (:meth:`AnytimeReport.to_markdown`) and a plot
  (:meth:`AnytimeReport.plot`), for any model and data set.

>>> import numpy as np, keras_trt
>>> logits = np.array([[[0.0, 0.1], [3.0, 0.0], [4.0, 0.0]]])      # one stream, 3 steps, 2 classes
>>> decision, used = keras_trt.anytime.early_exit(logits, threshold=0.9)
>>> decision.tolist(), used.tolist()                               # class 0, decided at step 2
([0], [2])
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import numpy as np

RULES = ("confidence", "margin")


def _softmax(logits):
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def scores(outputs, rule="confidence"):
    """The exit score of every step: ``[..., T]`` from logits ``[..., T, K]``.

    ``"confidence"``: the top softmax probability; ``"margin"``: top minus second probability.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}.")
    probs = _softmax(np.asarray(outputs, "float64"))
    if rule == "confidence":
        return probs.max(-1)
    if probs.shape[-1] < 2:
        raise ValueError("The margin rule needs at least two classes.")
    top2 = np.sort(probs, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def early_exit(outputs, threshold, rule="confidence"):
    """Decisions with early exit from the outputs after every step, ``[N, T, K]`` logits.

    Each stream stops at the first step whose score (:func:`scores`) reaches ``threshold``, or
    at its last step. Returns ``(decisions [N], steps_used [N])``; steps count from 1.

    >>> import numpy as np
    >>> out = np.array([[[2.0, 0.0], [5.0, 0.0]], [[0.0, 0.2], [0.0, 0.3]]])
    >>> early_exit(out, 0.8)[1].tolist()    # row 0 is sure after step 1; row 1 never is
    [1, 2]
    """
    outputs = np.asarray(outputs)
    if outputs.ndim != 3:
        raise ValueError(f"outputs must be logits after every step, [N, T, K], got shape {outputs.shape}.")
    s = scores(outputs, rule)
    reached = s >= threshold
    last = outputs.shape[1] - 1
    step = np.where(reached.any(1), reached.argmax(1), last)
    decisions = outputs[np.arange(len(outputs)), step].argmax(-1)
    return decisions, step + 1


def first_confident_step(outputs, threshold, rule="confidence"):
    """Per stream, the index in this chunk of the first step that reaches ``threshold``, or -1.

    For live use on each chunk ``[B, k, K]`` that :class:`~keras_trt.streaming.Stream` returns.
    """
    reached = scores(np.asarray(outputs), rule) >= threshold
    return np.where(reached.any(1), reached.argmax(1), -1)


def running_outputs(model, x, *, batch_size=64, steps=None, progress=True):
    """The model's output after every step for all of ``x``: ``[N, T, *output]`` (NumPy).

    ``x`` is what ``model.predict`` takes (``[N, T, ...]`` sequences or ``[N, ...]`` static
    inputs, shown for ``steps`` steps, default the model's ``T``). Each batch is one stream fed
    in one chunk; the last step equals ``model.predict(x)``.
    """
    from keras_trt import streaming

    stream = model if isinstance(model, streaming.Stream) else streaming.Stream(model)
    x = np.asarray(x)
    batches = range(0, len(x), batch_size)
    bar = None
    if progress and len(batches) > 1:
        import keras

        bar = keras.utils.Progbar(len(batches), unit_name="batch")
    outs = []
    for i, start in enumerate(batches):
        part = x[start:start + batch_size]
        total = (stream.timesteps if steps is None else steps) if stream.static_input else None
        outs.append(stream.run_sequence(part, chunk_size=total or part.shape[1], steps=total))
        if bar is not None:
            bar.update(i + 1)
    return np.concatenate(outs, 0)


@dataclasses.dataclass
class AnytimeReport:
    """Accuracy against steps used and against the early-exit threshold.

    Attributes:
        accuracy_by_step: accuracy of the running prediction after step 1..T, ``[T]``.
        thresholds: the thresholds tried; ``rule`` the score they apply to.
        threshold_accuracy, mean_steps: accuracy and mean steps used at each threshold.
        samples: number of samples.
    """

    accuracy_by_step: np.ndarray
    thresholds: np.ndarray
    threshold_accuracy: np.ndarray
    mean_steps: np.ndarray
    rule: str
    samples: int
    title: str = ""

    def to_markdown(self):
        """Two tables: accuracy after each step; accuracy and mean steps per threshold."""
        lines = ["| step | accuracy (%) |", "|---:|---:|"]
        lines += [f"| {t + 1} | {100 * a:.2f} |" for t, a in enumerate(self.accuracy_by_step)]
        lines += ["", f"| {self.rule} threshold | accuracy (%) | mean steps used |", "|---:|---:|---:|"]
        lines += [f"| {th:g} | {100 * a:.2f} | {m:.2f} |"
                  for th, a, m in zip(self.thresholds, self.threshold_accuracy, self.mean_steps)]
        return "\n".join(lines)

    def plot(self, path=None):
        """Accuracy after each step (left) and accuracy against mean steps used as the
        threshold varies (right). Saves to ``path`` (written whole, then moved) or returns the
        figure."""
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
        steps = np.arange(1, len(self.accuracy_by_step) + 1)
        left.plot(steps, 100 * self.accuracy_by_step, marker="o", ms=3)
        left.set_xlabel("steps seen")
        left.set_ylabel("accuracy (%)")
        left.set_title("running prediction")
        left.grid(alpha=0.3)
        right.plot(self.mean_steps, 100 * self.threshold_accuracy, marker="o", ms=3, color="tab:red")
        for th, m, a in zip(self.thresholds, self.mean_steps, self.threshold_accuracy):
            right.annotate(f"{th:g}", (m, 100 * a), fontsize=7, xytext=(3, -9), textcoords="offset points")
        right.set_xlabel("mean steps used")
        right.set_ylabel("accuracy (%)")
        right.set_title(f"early exit on {self.rule} (threshold marked)")
        right.grid(alpha=0.3)
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        if path is None:
            return fig
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(suffix=".png", dir=folder)
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=120)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
            plt.close(fig)
        return path


DEFAULT_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def report_from_outputs(outputs, y, *, thresholds=DEFAULT_THRESHOLDS, rule="confidence", title=""):
    """:class:`AnytimeReport` of outputs after every step ``[N, T, K]`` and labels ``y``."""
    outputs = np.asarray(outputs)
    y = np.asarray(y).reshape(-1)
    if outputs.ndim != 3 or len(outputs) != len(y):
        raise ValueError(f"outputs must be [N, T, K] logits for the N={len(y)} labels, got shape {outputs.shape}.")
    by_step = (outputs.argmax(-1) == y[:, None]).mean(0)
    accs, means = [], []
    for th in thresholds:
        decisions, used = early_exit(outputs, th, rule)
        accs.append(float(np.mean(decisions == y)))
        means.append(float(np.mean(used)))
    return AnytimeReport(by_step, np.asarray(thresholds, float), np.asarray(accs), np.asarray(means),
                         rule, len(y), title)


def anytime_report(model, x, y, *, thresholds=DEFAULT_THRESHOLDS, rule="confidence", batch_size=64,
                   steps=None, title=""):
    """Streams ``x`` through ``model`` and reports accuracy against steps and thresholds.

    >>> import numpy as np, keras_trt
    >>> model = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
    >>> x, y = np.random.rand(8, 6, 5).astype("float32"), np.arange(8) % 3
    >>> report = keras_trt.anytime.anytime_report(model, x, y, thresholds=(0.5, 0.9))
    >>> report.accuracy_by_step.shape, report.mean_steps.shape
    ((6,), (2,))
    """
    outputs = running_outputs(model, x, batch_size=batch_size, steps=steps)
    return report_from_outputs(outputs, y, thresholds=thresholds, rule=rule, title=title)


__all__ = ["AnytimeReport", "anytime_report", "early_exit", "first_confident_step", "report_from_outputs",
           "running_outputs", "scores", "RULES", "DEFAULT_THRESHOLDS"]
