"""The backend-agnostic pieces of the TRT loss (pure ``keras.ops``)."""

from keras import ops


def softmax_kl(target_logits, logits, temperature, stop_gradient_target=False):
    """Per-sample ``KL(softmax(target/t) || softmax(logits/t))``, summed over classes: ``[B]``.

    Never negative, and accurate to float32 rounding at any temperature. The textbook
    ``sum p * (log p - log q)`` subtracts two log-probabilities near ``-log C`` whose difference
    shrinks like ``1/t``: at ``t = 1e6`` float32 cancellation leaves noise of either sign that
    ``t^2`` then multiplies. Here the log-ratio ``l = log p - log q`` is computed from the logit
    difference itself, and the KL as ``sum q * phi(l)`` with ``phi(l) = l e^l - e^l + 1 >= 0``
    (equal to the KL because ``sum p = sum q = 1``), each term evaluated without cancellation.

    >>> import numpy as np
    >>> a = np.array([[2.0, 0.5, -1.0]], "float32"); b = np.array([[1.0, 0.0, 0.5]], "float32")
    >>> p, q = np.exp(a) / np.exp(a).sum(), np.exp(b) / np.exp(b).sum()
    >>> round(float(softmax_kl(a, b, 1.0)[0]), 5) == round(float((p * np.log(p / q)).sum()), 5)
    True
    >>> float(softmax_kl(a, b, 1e6)[0] * 1e12) >= 0.0   # t^2 * KL stays a KL at huge t
    True
    """
    target_logits = ops.convert_to_tensor(target_logits)
    logits = ops.convert_to_tensor(logits)
    if stop_gradient_target:
        target_logits = ops.stop_gradient(target_logits)
    log_q = ops.log_softmax(logits / temperature, axis=-1)
    q = ops.exp(log_q)
    # l = d - log E_q[e^d] with d = (target - logits) / t, centred on its q-mean. For small d
    # (high temperatures) log E_q[e^d] = log1p(E_q[expm1(d)]) is exact where a difference of
    # logs would cancel; for large d (where expm1 could overflow) it is a logsumexp.
    d = (target_logits - logits) / temperature
    d = d - ops.sum(q * d, axis=-1, keepdims=True)
    near = ops.max(ops.abs(d), axis=-1, keepdims=True) < 1.0
    d_near = ops.where(near, d, 0.0)
    log_mean_exp = ops.where(
        near,
        ops.log1p(ops.sum(q * ops.expm1(d_near), axis=-1, keepdims=True)),
        ops.logsumexp(log_q + ops.where(near, 0.0, d), axis=-1, keepdims=True),
    )
    log_ratio = d - log_mean_exp
    # phi(l) = sum_{n>=2} (n-1) l^n / n! where the closed form would cancel (|l| < 1/2), and
    # elsewhere the closed form as q + p * (l - 1), p from logs so nothing overflows. Each
    # branch sees only its own inputs, so neither leaks inf/NaN into the other's gradient.
    small = ops.abs(log_ratio) < 0.5
    ls = ops.where(small, log_ratio, 0.0)
    series = ls * (1 / 30 + ls * (1 / 144 + ls * (1 / 840 + ls * (1 / 5760))))
    series = q * ops.square(ls) * (0.5 + ls * (1 / 3 + ls * (1 / 8 + series)))
    ll = ops.where(small, 1.0, log_ratio)
    closed = q + ops.exp(log_q + ll) * (ll - 1.0)
    terms = ops.maximum(ops.where(small, series, closed), 0.0)
    return ops.sum(terms, axis=-1)


def consistency(o, o_rev, config):
    """Per-sample distillation term between the branches, ``temperature^2 * KL``: ``[B]``."""
    t = config.temperature
    sg = config.stop_gradient_target
    forward = lambda: softmax_kl(o, o_rev, t, sg)  # noqa: E731
    backward = lambda: softmax_kl(o_rev, o, t, sg)  # noqa: E731
    if config.symmetric_kl:
        kl = 0.5 * (forward() + backward())
    elif config.kl_direction == "original_to_reversed":
        kl = forward()
    else:
        kl = backward()
    return (t * t) * kl

