"""Test-time probes of a trained SNN: temporal perturbations, original/reversed consistency and
firing rates, all in inference mode (the plain SNN, moving BatchNormalization statistics).

Where the time axis is perturbed: at the model's reversal point, the input of its
:class:`~keras_trt.layers.TemporalReversal` (every ``keras_trt.models`` builder has one, TRT or
not). For temporal data with ``reverse_at="input"`` that is the recording itself; for static
images, whose time axis is made inside the model by ``RepeatTime`` (every step identical, so
reversing the input changes nothing), it is the spike trains after the stem (or the later stage
the model reverses at). The model is cut there into ``front`` and ``back``; a perturbation is
applied to ``front(x)`` and ``back`` finishes the forward pass.

Perturbations of a ``[B, T, ...]`` sequence (NumPy, on the time axis 1):

* :func:`reverse`: ``x'[t] = x[T-1-t]``;
* :func:`drop_step` at ``t``: step ``t`` is lost, the later steps arrive one step earlier and the
  last step is empty (zeros: no spikes; the channel mean for standardised series);
* :func:`duplicate_step` at ``t``: step ``t`` arrives twice, the later steps one step later and
  the last one falls off (``t < T - 1``; duplicating the last step would change nothing).

For event recipes (data with held-out streams, ``training.datasets.EventStreams``), the
perturbations also act on the events before they are integrated into frames
(:func:`event_variants`, with ``keras_trt.data``'s event transforms): the stream played backwards
(time mirrored over the window, ON and OFF swapped: what the sensor would record of the reversed
motion), re-timed by 0.5x (twice the speed: the motion fills the first half of the frames) and
2x (half the speed: the second half of the motion falls past the window), and with noise events
added (uniform, half as many as the stream holds).

The robustness numbers average the accuracy over every position ``t``. All variants of the
held-out set are held in memory at once (sized for the small held-out sets of the CPU recipes).

Consistency between the original and the reversed outputs ``O = back(h)`` and
``O_rev = back(reverse(h))``: the mean ``KL(softmax(O) || softmax(O_rev))`` in nats, and the
fraction of samples whose argmax agrees. Firing rate: spikes emitted by all LIF layers divided
by the number of neuron-steps (every neuron counts once), over the held-out set.

    >>> import numpy as np
    >>> x = np.arange(4.0).reshape(1, 4)
    >>> drop_step(x, 1).tolist(), duplicate_step(x, 1).tolist()
    ([[0.0, 2.0, 3.0, 0.0]], [[0.0, 1.0, 1.0, 2.0]])
"""

import numpy as np


def _check(x, t=None, upper=None):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"expected a [B, T, ...] sequence, got shape {x.shape}.")
    if t is not None and not 0 <= t < upper:
        raise ValueError(f"step {t} is out of range for T={x.shape[1]} (0 <= t < {upper}).")
    return x


def reverse(x):
    """``x'[:, t] = x[:, T-1-t]``."""
    return np.ascontiguousarray(_check(x)[:, ::-1])


def drop_step(x, t):
    """Removes step ``t``; later steps move one step earlier, the last step is zeros."""
    x = _check(x, t, np.shape(x)[1])
    out = np.zeros_like(x)
    out[:, : x.shape[1] - 1] = np.delete(x, t, axis=1)
    return out


def duplicate_step(x, t):
    """Repeats step ``t`` (``t < T - 1``); later steps move one step later, the last falls off."""
    x = _check(x, t, np.shape(x)[1] - 1)
    return np.concatenate([x[:, : t + 1], x[:, t : x.shape[1] - 1]], axis=1)


def split_at_reversal(model):
    """``(front, back)`` with ``back(front(x)) == model(x)``, cut at the model's TemporalReversal.

    ``front`` is None when the reversal is at the input (the perturbed sequence is ``x``).
    """
    import keras

    from keras_trt import layers

    found = [l for l in model.layers if isinstance(l, layers.TemporalReversal)]
    if len(found) != 1:
        raise ValueError(
            f"the probes cut the model at its TemporalReversal layer, but {model.name} has "
            f"{len(found)}; build it with keras_trt.models.build (every builder places one)."
        )
    rev = found[0]
    try:
        back = keras.Model(rev.output, model.outputs[0])
    except ValueError as err:
        raise ValueError(
            f"{model.name}: the network is not a single path at its reversal point (a layer "
            f"after it also reads an earlier tensor), so it cannot be perturbed there: {err}"
        ) from None
    if any(rev.input is t for t in model.inputs):
        return None, back
    return keras.Model(model.inputs[0], rev.input), back


def _predict(model, x, batch_size):
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def _log_softmax(o):
    o = o - o.max(axis=-1, keepdims=True)
    return o - np.log(np.exp(o).sum(axis=-1, keepdims=True))


def consistency(o, o_rev):
    """``(mean KL(softmax(o) || softmax(o_rev)), argmax agreement)`` of two logit arrays."""
    lp, lq = _log_softmax(np.asarray(o, np.float64)), _log_softmax(np.asarray(o_rev, np.float64))
    kl = (np.exp(lp) * (lp - lq)).sum(axis=-1)
    agree = np.argmax(o, axis=-1) == np.argmax(o_rev, axis=-1)
    return float(kl.mean()), float(agree.mean())


def firing_rates(model, x, batch_size=256):
    """``(overall, {layer name: rate})``: mean spikes per neuron and step of every LIF layer."""
    from keras_trt import analysis

    counts = analysis.spike_counts(model, x, batch_size=batch_size)
    per_layer = {name: spikes / size for name, (spikes, size) in counts.items()}
    overall = sum(s for s, _ in counts.values()) / sum(n for _, n in counts.values())
    return overall, per_layer


#: The event-level perturbations: key, label on the pages.
EVENT_PERTURBATIONS = (
    ("stream_reversed", "stream played backwards"),
    ("speed_2x", "twice the speed (t x0.5)"),
    ("speed_half", "half the speed (t x2)"),
    ("noise", "noise events (+50 %)"),
)
NOISE_FRACTION = 0.5


def event_variants(events, seed=0):
    """``{key: model inputs}`` of held-out streams under each of :data:`EVENT_PERTURBATIONS`.

    ``events`` holds ``streams``, ``to_frames``, ``duration`` and ``sensor_size`` (a
    ``training.datasets.EventStreams``); the window is ``[0, duration)``.
    """
    from keras_trt.data import add_noise_events, reverse_events, scale_time

    window = (0, int(events.duration))
    streams = events.streams
    made = {
        "stream_reversed": [reverse_events(s, window) for s in streams],
        "speed_2x": [scale_time(s, 0.5) for s in streams],
        "speed_half": [scale_time(s, 2.0) for s in streams],
        "noise": [add_noise_events(s, events.sensor_size, count=int(round(NOISE_FRACTION * len(s))),
                                   window=window, seed=[int(seed), i]) for i, s in enumerate(streams)],
    }
    return {k: events.to_frames(v) for k, v in made.items()}


def robustness(model, x, y, batch_size=256, inputs=None):
    """Held-out accuracy under the perturbations, consistency and firing rate (see the module).

    Returns a dict: ``accuracy``, ``reversed`` (accuracy of ``O_rev``), ``dropped`` and
    ``duplicated`` (mean accuracy over the positions), ``dropped_min``/``duplicated_min`` (the
    worst position), ``kl`` and ``agreement`` (consistency of ``O`` and ``O_rev``),
    ``firing_rate`` and ``firing_rate_per_layer``. ``inputs`` (``{key: x'}``, e.g.
    :func:`event_variants`) adds ``events``: the accuracy of the whole model on each ``x'``
    (labels ``y``).
    """
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    front, back = split_at_reversal(model)
    h = x if front is None else _predict(front, x, batch_size)
    steps = h.shape[1]

    # Every variant in one predict call (one compiled function, one pass over the batches).
    variants = [h, reverse(h)] + [drop_step(h, t) for t in range(steps)]
    variants += [duplicate_step(h, t) for t in range(steps - 1)]
    logits = np.split(_predict(back, np.concatenate(variants), batch_size), len(variants))
    o, o_rev = logits[0], logits[1]
    kl, agreement = consistency(o, o_rev)
    correct = [float(np.mean(np.argmax(v, axis=-1) == y)) for v in logits]
    dropped, duplicated = correct[2 : 2 + steps], correct[2 + steps :]
    rate, per_layer = firing_rates(model, x, batch_size)
    return dict(
        accuracy=float(np.mean(np.argmax(o, axis=-1) == y)),
        reversed=float(np.mean(np.argmax(o_rev, axis=-1) == y)),
        dropped=float(np.mean(dropped)), dropped_min=float(np.min(dropped)),
        duplicated=float(np.mean(duplicated)) if duplicated else float("nan"),
        duplicated_min=float(np.min(duplicated)) if duplicated else float("nan"),
        kl=kl, agreement=agreement, firing_rate=rate, firing_rate_per_layer=per_layer,
        perturbed_at="input" if front is None else "reversal point",
        **({"events": {k: float(np.mean(np.argmax(_predict(model, v, batch_size), axis=-1) == y))
                       for k, v in inputs.items()}} if inputs else {}),
    )
