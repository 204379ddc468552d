"""Independent pure-NumPy (float64) reference for keras-trt's tests.

The library's tests compare keras-trt layers, surrogate gradients and the TRT
loss against the functions in this module.  To make that comparison
meaningful the reference is deliberately independent of the code under test:
it imports only NumPy (no keras, keras_trt, torch or jax), computes in float64,
and writes every gradient by hand (explicit BPTT for the neurons, closed forms
for the loss) instead of relying on an autodiff framework.

It has itself been checked against SpikingJelly 2.0.0 (spikes, input
gradients, the PLIF ``w`` gradient, the gradient of the final membrane) and
against central finite differences; see
``tests/_verify_reference_against_spikingjelly.py``.

Layout conventions
------------------
* Neuron inputs are batch-major ``[B, T, ...]`` (Keras style).  SpikingJelly is
  time-major ``[T, B, ...]``; transpose when comparing against it.
* Spikes use the exact Heaviside ``x >= 0`` (a value exactly at threshold
  fires), matching SpikingJelly.  In the backward pass ``dS/dH`` is replaced by
  the surrogate derivative evaluated at ``H - v_threshold``.

Contents
--------
* surrogates: ``heaviside``, ``*_primitive``, ``*_grad``, ``SURROGATES``,
  ``SURROGATE_DEFAULTS``
* LIF:  ``lif_forward`` / ``lif_backward``   (grads for ``x`` and ``tau``)
* PLIF: ``plif_forward`` / ``plif_backward`` (grads for ``x`` and ``w``),
  ``plif_init_w``
* TRT loss on logits: ``trt_loss`` (value, components and analytic grads), plus
  the building blocks ``softmax``, ``log_softmax``, ``sparse_cross_entropy``
  and ``kl_divergence``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "heaviside",
    "sigmoid_primitive",
    "sigmoid_grad",
    "atan_primitive",
    "atan_grad",
    "rectangular_primitive",
    "rectangular_grad",
    "triangle_primitive",
    "triangle_grad",
    "SURROGATES",
    "SURROGATE_DEFAULTS",
    "lif_forward",
    "lif_backward",
    "plif_init_w",
    "plif_forward",
    "plif_backward",
    "softmax",
    "log_softmax",
    "sparse_cross_entropy",
    "kl_divergence",
    "trt_loss",
]


def _f64(x):
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------
# Surrogate gradients
# ---------------------------------------------------------------------------


def heaviside(x):
    """Forward spike function: 1.0 where ``x >= 0`` else 0.0."""
    return (_f64(x) >= 0).astype(np.float64)


def _sigmoid(z):
    # Two-branch form: never exponentiates a large positive number.
    z = _f64(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_primitive(x, alpha=4.0):
    """g(x) = sigmoid(alpha * x)  (SpikingJelly ``surrogate.Sigmoid``)."""
    return _sigmoid(alpha * _f64(x))


def sigmoid_grad(x, alpha=4.0):
    """g'(x) = alpha * s * (1 - s) with s = sigmoid(alpha * x)."""
    s = sigmoid_primitive(x, alpha)
    return alpha * s * (1.0 - s)


def atan_primitive(x, alpha=2.0):
    """g(x) = atan(pi/2 * alpha * x) / pi + 1/2  (SpikingJelly ``surrogate.ATan``)."""
    return np.arctan(math.pi / 2.0 * alpha * _f64(x)) / math.pi + 0.5


def atan_grad(x, alpha=2.0):
    """g'(x) = (alpha / 2) / (1 + (pi/2 * alpha * x)^2)."""
    z = math.pi / 2.0 * alpha * _f64(x)
    return (alpha / 2.0) / (1.0 + z * z)


def rectangular_primitive(x, width=1.0):
    """g(x) = clip(x / width + 1/2, 0, 1)."""
    return np.clip(_f64(x) / width + 0.5, 0.0, 1.0)


def rectangular_grad(x, width=1.0):
    """g'(x) = 1 / width on the open interval |x| < width / 2, else 0."""
    return np.where(np.abs(_f64(x)) < width / 2.0, 1.0 / width, 0.0)


def triangle_primitive(x, width=1.0):
    """Piecewise-quadratic CDF of the triangle density on [-width, width]."""
    x = _f64(x)
    w = float(width)
    left = (x + w) ** 2 / (2.0 * w * w)
    right = 1.0 - (w - x) ** 2 / (2.0 * w * w)
    return np.where(
        x < -w, 0.0, np.where(x < 0.0, left, np.where(x < w, right, 1.0))
    )


def triangle_grad(x, width=1.0):
    """g'(x) = max(0, width - |x|) / width^2."""
    return np.maximum(0.0, width - np.abs(_f64(x))) / (width * width)


# name -> (primitive, derivative); both called as f(x, param).
SURROGATES = {
    "sigmoid": (sigmoid_primitive, sigmoid_grad),
    "atan": (atan_primitive, atan_grad),
    "rectangular": (rectangular_primitive, rectangular_grad),
    "triangle": (triangle_primitive, triangle_grad),
}

# Default shape parameter (alpha for sigmoid/atan, width for the others).
SURROGATE_DEFAULTS = {
    "sigmoid": 4.0,
    "atan": 2.0,
    "rectangular": 1.0,
    "triangle": 1.0,
}


def _surrogate_derivative(name, param):
    if name not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; expected one of {sorted(SURROGATES)}")
    param = SURROGATE_DEFAULTS[name] if param is None else float(param)
    grad_fn = SURROGATES[name][1]
    return lambda x: grad_fn(x, param), param


# ---------------------------------------------------------------------------
# LIF / PLIF neurons
# ---------------------------------------------------------------------------
#
# Both neurons share one recurrence parameterised by the leak factor k
# (k = 1/tau for LIF, k = sigmoid(w) for PLIF):
#
#   decay_input=True :  H[t] = V[t-1] + (X[t] - (V[t-1] - vr0)) * k
#   decay_input=False:  H[t] = V[t-1] - (V[t-1] - vr0) * k + X[t]
#   S[t] = heaviside(H[t] - v_threshold)
#   soft reset (v_reset None): V[t] = H[t] - S[t] * v_threshold
#   hard reset:                V[t] = (1 - S[t]) * H[t] + S[t] * v_reset
#
# with vr0 = v_reset if v_reset is not None else 0 and V[-1] = vr0 by default.
# The backward pass therefore computes d/dk once and the wrappers apply the
# chain rule to tau or w.


def _neuron_forward(x, k, *, v_threshold, v_reset, decay_input, detach_reset,
                    surrogate, surrogate_param, v_init):
    x = _f64(x)
    if x.ndim < 2:
        raise ValueError(f"x must have shape [B, T, ...], got {x.shape}")
    vr0 = 0.0 if v_reset is None else float(v_reset)
    v_threshold = float(v_threshold)
    _, param = _surrogate_derivative(surrogate, surrogate_param)

    state_shape = (x.shape[0],) + x.shape[2:]
    v = np.full(state_shape, vr0) if v_init is None else np.broadcast_to(_f64(v_init), state_shape).copy()
    v0 = v.copy()

    spikes = np.empty_like(x)
    h_seq = np.empty_like(x)
    v_seq = np.empty_like(x)
    for t in range(x.shape[1]):
        xt = x[:, t]
        if decay_input:
            h = v + (xt - (v - vr0)) * k
        else:
            h = v - (v - vr0) * k + xt
        s = heaviside(h - v_threshold)
        if v_reset is None:
            v = h - s * v_threshold
        else:
            v = (1.0 - s) * h + s * vr0
        spikes[:, t], h_seq[:, t], v_seq[:, t] = s, h, v

    return {
        # Outputs (uppercase aliases follow the S/H/V notation of the equations).
        "spikes": spikes, "h": h_seq, "v": v_seq, "v_final": v.copy(),
        "S": spikes, "H": h_seq, "V": v_seq,
        # What the backward pass needs.
        "x": x, "v_init": v0, "k": float(k),
        "v_threshold": v_threshold, "v_reset": v_reset,
        "decay_input": bool(decay_input), "detach_reset": bool(detach_reset),
        "surrogate": surrogate, "surrogate_param": param,
    }


def _neuron_backward(record, grad_spikes, grad_v_final=None):
    """BPTT through the shared recurrence; returns (dL/dx, dL/dk, dL/dV[-1])."""
    x, h_seq, spikes = record["x"], record["h"], record["spikes"]
    k = record["k"]
    v_th, v_reset = record["v_threshold"], record["v_reset"]
    vr0 = 0.0 if v_reset is None else float(v_reset)
    decay_input, detach_reset = record["decay_input"], record["detach_reset"]
    dsg, _ = _surrogate_derivative(record["surrogate"], record["surrogate_param"])

    grad_spikes = np.broadcast_to(_f64(grad_spikes), x.shape)
    n_steps = x.shape[1]
    # Membrane before each step: V[t-1] (the initial state for t = 0).
    v_prev = np.concatenate([record["v_init"][:, None], record["v"][:, :-1]], axis=1)

    gx = np.empty_like(x)
    gk = 0.0
    # dL/dV[t], flowing back from step t+1 (and from grad_v_final at the end).
    gv = np.zeros_like(record["v_init"])
    if grad_v_final is not None:
        gv = gv + np.broadcast_to(_f64(grad_v_final), gv.shape)

    for t in range(n_steps - 1, -1, -1):
        h, s = h_seq[:, t], spikes[:, t]
        sg = dsg(h - v_th)
        # dV[t]/dH[t]; the sg term is the path through S[t] inside the reset,
        # which detach_reset cuts.
        if v_reset is None:
            dv_dh = np.ones_like(h) if detach_reset else 1.0 - v_th * sg
        else:
            dv_dh = 1.0 - s
            if not detach_reset:
                dv_dh = dv_dh + (vr0 - h) * sg
        gh = grad_spikes[:, t] * sg + gv * dv_dh

        gx[:, t] = gh * k if decay_input else gh
        if decay_input:
            dh_dk = x[:, t] - (v_prev[:, t] - vr0)
        else:
            dh_dk = -(v_prev[:, t] - vr0)
        gk += float(np.sum(gh * dh_dk))
        gv = gh * (1.0 - k)  # dH[t]/dV[t-1] = 1 - k in both charge forms

    return gx, gk, gv


def lif_forward(x, *, tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=True,
                detach_reset=False, surrogate="sigmoid", surrogate_param=None,
                v_init=None):
    """Multi-step LIF forward pass (SpikingJelly ``LIFNode``).

    ``x`` is ``[B, T, ...]``.  ``v_reset=None`` selects soft reset.  ``v_init``
    overrides the initial membrane (default ``v_reset`` or 0).  Returns a dict
    record with ``spikes``/``h``/``v`` (aliases ``S``/``H``/``V``), each
    ``[B, T, ...]``, ``v_final`` ``[B, ...]`` and the data ``lif_backward``
    needs.
    """
    tau = float(tau)
    record = _neuron_forward(
        x, 1.0 / tau, v_threshold=v_threshold, v_reset=v_reset,
        decay_input=decay_input, detach_reset=detach_reset,
        surrogate=surrogate, surrogate_param=surrogate_param, v_init=v_init)
    record["tau"] = tau
    return record


def lif_backward(record, grad_spikes, grad_v_final=None):
    """Surrogate-gradient BPTT for ``sum(grad_spikes * S) + sum(grad_v_final * V[T-1])``.

    Returns ``{"x": dL/dx [B, T, ...], "tau": dL/dtau (float), "v_init": dL/dV[-1]}``.
    """
    gx, gk, gv0 = _neuron_backward(record, grad_spikes, grad_v_final)
    tau = record["tau"]
    return {"x": gx, "tau": gk * (-1.0 / (tau * tau)), "v_init": gv0}


def plif_init_w(init_tau=2.0):
    """Initial PLIF parameter, chosen so that sigmoid(w) = 1 / init_tau."""
    return -math.log(float(init_tau) - 1.0)


def plif_forward(x, *, w, v_threshold=1.0, v_reset=0.0, decay_input=True,
                 detach_reset=False, surrogate="sigmoid", surrogate_param=None,
                 v_init=None):
    """Multi-step parametric LIF (SpikingJelly ``ParametricLIFNode``): 1/tau = sigmoid(w)."""
    w = float(w)
    record = _neuron_forward(
        x, float(_sigmoid(w)), v_threshold=v_threshold, v_reset=v_reset,
        decay_input=decay_input, detach_reset=detach_reset,
        surrogate=surrogate, surrogate_param=surrogate_param, v_init=v_init)
    record["w"] = w
    return record


def plif_backward(record, grad_spikes, grad_v_final=None):
    """Like ``lif_backward`` but returns ``{"x", "w", "v_init"}``."""
    gx, gk, gv0 = _neuron_backward(record, grad_spikes, grad_v_final)
    k = record["k"]
    return {"x": gx, "w": gk * k * (1.0 - k), "v_init": gv0}


# ---------------------------------------------------------------------------
# TRT loss
# ---------------------------------------------------------------------------


def log_softmax(z, axis=-1):
    z = _f64(z)
    z = z - np.max(z, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def softmax(z, axis=-1):
    return np.exp(log_softmax(z, axis=axis))


def sparse_cross_entropy(logits, labels):
    """Batch-mean sparse softmax cross-entropy and its gradient w.r.t. logits."""
    logits = _f64(logits)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    batch = logits.shape[0]
    logp = log_softmax(logits)
    loss = -float(np.mean(logp[np.arange(batch), labels]))
    grad = np.exp(logp)
    grad[np.arange(batch), labels] -= 1.0
    return loss, grad / batch


def kl_divergence(a, b, temperature=1.0):
    """Batch-mean KL(p || q), p = softmax(a / T), q = softmax(b / T).

    Returns ``(value, d/da, d/db)``; ``d/da`` is the gradient through the
    target p.
    """
    a, b = _f64(a), _f64(b)
    batch = a.shape[0]
    tau = float(temperature)
    logp, logq = log_softmax(a / tau), log_softmax(b / tau)
    p, q = np.exp(logp), np.exp(logq)
    row = np.sum(p * (logp - logq), axis=-1, keepdims=True)
    grad_a = p * (logp - logq - row) / tau / batch
    grad_b = (q - p) / tau / batch
    return float(np.mean(row)), grad_a, grad_b


_KL_DIRECTIONS = ("original_to_reversed", "reversed_to_original")


def trt_loss(o, o_rev, o_star, y, *, reversal_weight=1.0, consistency_weight=1.0,
             temperature=1.0, star_weight=1.0, kl_direction="original_to_reversed",
             symmetric=False, stop_gradient_target=False):
    """Temporal-reversal training loss on logits ``[B, K]`` with labels ``[B]``.

    ``o_rev`` and ``o_star`` may have fewer rows ``m`` than ``o`` (``batch_fraction < 1``): they
    pair with the first ``m`` samples, and every term but CE(o, y) is a mean over those.

    total = CE(o, y) + reversal_weight * CE(o_rev, y)
            + consistency_weight * T^2 * KL_term + star_weight * CE(o_star, y)

    KL_term is KL(p||q) for ``"original_to_reversed"`` (p = softmax(o/T) is the
    target), KL(q||p) for ``"reversed_to_original"``, or the mean of both when
    ``symmetric``.  ``stop_gradient_target`` removes the gradient through each
    KL term's own target.  ``o_star=None`` drops the star term.

    Returns ``(total, components, grads)``: components has ``task_loss``,
    ``reversed_loss``, ``consistency_loss`` (already T^2-scaled, unweighted) and
    ``star_loss``; grads has ``o``, ``o_rev`` and ``o_star`` (None when
    ``o_star`` is None).
    """
    if kl_direction not in _KL_DIRECTIONS:
        raise ValueError(f"kl_direction must be one of {_KL_DIRECTIONS}, got {kl_direction!r}")
    o, o_rev = _f64(o), _f64(o_rev)
    tau = float(temperature)
    scale = tau * tau

    task, g_o = sparse_cross_entropy(o, y)
    m = o_rev.shape[0]  # the paired samples: all of them, or the first m
    y_all, y = y, np.asarray(y).reshape(-1)[:m]
    o_all, o = o, o[:m]
    g_o_all, g_o = g_o, np.zeros_like(o)
    rev, g_rev_ce = sparse_cross_entropy(o_rev, y)
    g_rev = reversal_weight * g_rev_ce

    # (KL term weight, target logits are o?) pairs making up the consistency.
    if symmetric:
        terms = [(0.5, True), (0.5, False)]
    else:
        terms = [(1.0, kl_direction == "original_to_reversed")]
    consistency = 0.0
    for weight, target_is_o in terms:
        target, other = (o, o_rev) if target_is_o else (o_rev, o)
        value, g_target, g_other = kl_divergence(target, other, tau)
        consistency += weight * scale * value
        factor = consistency_weight * weight * scale
        if stop_gradient_target:
            g_target = np.zeros_like(g_target)
        if target_is_o:
            g_o = g_o + factor * g_target
            g_rev = g_rev + factor * g_other
        else:
            g_rev = g_rev + factor * g_target
            g_o = g_o + factor * g_other

    g_o_all = g_o_all.copy()
    g_o_all[:m] += g_o
    g_o, o, y = g_o_all, o_all, y_all
    total = task + reversal_weight * rev + consistency_weight * consistency
    star, g_star = 0.0, None
    if o_star is not None:
        star, g_star_ce = sparse_cross_entropy(o_star, np.asarray(y).reshape(-1)[:m])
        total += star_weight * star
        g_star = star_weight * g_star_ce

    components = {
        "task_loss": task,
        "reversed_loss": rev,
        "consistency_loss": consistency,
        "star_loss": star,
    }
    grads = {"o": g_o, "o_rev": g_rev, "o_star": g_star}
    return float(total), components, grads
