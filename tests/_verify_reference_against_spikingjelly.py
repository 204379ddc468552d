"""Validate ``tests/reference.py`` against SpikingJelly 2.0.0 and finite differences.

This is documentation of how the independent NumPy reference was checked; it is
not collected by pytest (leading underscore) because it needs torch and
spikingjelly.  Run it with

    .venv/bin/python tests/_verify_reference_against_spikingjelly.py

and it prints a summary and exits non-zero if any check fails.

What is checked
---------------
1. Surrogates: derivatives vs central finite differences of the primitives
   (float64, away from kinks); sigmoid/atan primitive and backward vs
   ``surrogate.Sigmoid``/``surrogate.ATan``; rectangular(width) vs
   ``surrogate.Rect(alpha=1/width)``; triangle(width) vs
   ``surrogate.PiecewiseQuadratic(alpha=1/width)``.
2. LIF and PLIF over the full grid v_reset x decay_input x detach_reset x T x
   tau x surrogate, against
   (a) ``neuron.LIFNode`` / ``neuron.ParametricLIFNode`` on float32 CPU tensors
       (SpikingJelly's hand-written CPU kernel with a hand-written backward):
       exact spikes, x-grad and w-grad, grad of the final membrane, the V trace;
   (b) SpikingJelly's float64 autograd reference path (taken automatically for
       float64 inputs), with tau passed as a tensor so that autograd also
       yields d/dtau for LIF: tight float64 tolerances.
3. The TRT loss: values vs an independent loop implementation and torch,
   gradients vs central finite differences and vs torch autograd (``detach``
   for stop-gradient targets), over many option combinations.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

import torch  # noqa: E402


def _import_spikingjelly():
    # Only the neuron/surrogate/functional modules are needed; none of them
    # import torchvision in 2.0.0.  Should a build pull in a broken
    # torchvision anyway, retry with an empty stub in its place.
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except Exception as exc:  # pragma: no cover - depends on the environment
        if "torchvision" not in repr(exc):
            raise
        print(f"[import] torchvision import failed ({exc!r}); stubbing it")
        for name in list(sys.modules):
            if name.startswith(("spikingjelly", "torchvision")):
                del sys.modules[name]
        stub = types.ModuleType("torchvision")
        stub.__path__ = []
        sys.modules["torchvision"] = stub
        from spikingjelly.activation_based import functional, neuron, surrogate
    return functional, neuron, surrogate


functional, neuron, surrogate = _import_spikingjelly()
torch.manual_seed(0)


class Checker:
    """Collects pass/fail per section and the worst error/tolerance ratio seen."""

    def __init__(self):
        self.sections = {}
        self.failures = []

    def close(self, section, name, actual, expected, rtol, atol):
        actual = np.asarray(actual, dtype=np.float64)
        expected = np.asarray(expected, dtype=np.float64)
        if actual.shape != expected.shape:
            self._record(section, name, False, 0.0, f"shape {actual.shape} != {expected.shape}")
            return False
        err = np.abs(actual - expected)
        # Largest error as a fraction of its allowance (<= 1 passes).
        ratio = float(np.max(err / (atol + rtol * np.abs(expected)))) if err.size else 0.0
        ok = ratio <= 1.0
        self._record(section, name, ok, ratio,
                     f"max abs err {float(err.max()):.3e}, {ratio:.2f}x the tolerance (rtol={rtol}, atol={atol:.3g})")
        return ok

    def equal(self, section, name, actual, expected):
        actual, expected = np.asarray(actual), np.asarray(expected)
        ok = actual.shape == expected.shape and bool(np.array_equal(actual, expected))
        n_bad = int(np.sum(actual != expected)) if actual.shape == expected.shape else -1
        self._record(section, name, ok, 0.0, f"{n_bad} mismatching elements")
        return ok

    def true(self, section, name, cond, detail=""):
        self._record(section, name, bool(cond), 0.0, detail)

    def _record(self, section, name, ok, worst, detail):
        stats = self.sections.setdefault(section, {"n": 0, "fail": 0, "worst": 0.0})
        stats["n"] += 1
        stats["worst"] = max(stats["worst"], worst)
        if not ok:
            stats["fail"] += 1
            self.failures.append(f"[{section}] {name}: {detail}")

    def summary(self):
        print("\n=== summary ===")
        width = max(len(s) for s in self.sections)
        for section, stats in self.sections.items():
            status = "OK  " if stats["fail"] == 0 else "FAIL"
            print(f"{status} {section:<{width}}  {stats['n'] - stats['fail']:5d}/{stats['n']:<5d} passed"
                  f"  worst err/tolerance {stats['worst']:.3f}")
        if self.failures:
            print(f"\n{len(self.failures)} failure(s); first 30:")
            for line in self.failures[:30]:
                print("  " + line)
        return not self.failures


CHECK = Checker()


# ---------------------------------------------------------------------------
# 1. Surrogates
# ---------------------------------------------------------------------------


def check_surrogates():
    sec = "surrogate"
    fd_step = 1e-6
    x = np.linspace(-3.0, 3.0, 6001)
    for name, (prim, grad) in ref.SURROGATES.items():
        for param in (ref.SURROGATE_DEFAULTS[name], 0.7, 2.5):
            if name == "rectangular":
                kinks = np.array([-param / 2, param / 2])
            elif name == "triangle":
                kinks = np.array([-param, 0.0, param])
            else:
                kinks = np.array([])
            # Central differences are invalid within fd_step of a kink.
            pts = x[np.all(np.abs(x[:, None] - kinks[None, :]) > 1e-4, axis=1)] if kinks.size else x
            fd = (prim(pts + fd_step, param) - prim(pts - fd_step, param)) / (2 * fd_step)
            CHECK.close(sec, f"{name}({param}) grad vs FD", grad(pts, param), fd, rtol=1e-6, atol=1e-7)
            # The primitive is a CDF: continuous, 0 -> 1.
            CHECK.close(sec, f"{name}({param}) primitive limits",
                        prim(np.array([-1e9, 1e9]), param), [0.0, 1.0], rtol=0, atol=1e-9)
            if kinks.size:
                CHECK.close(sec, f"{name}({param}) primitive continuous at kinks",
                            prim(kinks - 1e-12, param), prim(kinks + 1e-12, param), rtol=0, atol=1e-9)

    # Against SpikingJelly's own modules (float64, so tolerances are tight).
    xt = torch.linspace(-3.0, 3.0, 6001, dtype=torch.float64)
    xn = xt.numpy()
    cases = []
    for alpha in (4.0, 2.0, 0.7, 2.5):
        cases.append(("sigmoid", alpha, surrogate.Sigmoid(alpha=alpha), alpha))
        cases.append(("atan", alpha, surrogate.ATan(alpha=alpha), alpha))
    for width in (1.0, 0.7, 2.5):
        # Rect(alpha): g' = alpha on |x| < 0.5/alpha  == rectangular(width=1/alpha).
        cases.append(("rectangular", width, surrogate.Rect(alpha=1.0 / width), 1.0 / width))
        # PiecewiseQuadratic(alpha): g' = max(0, alpha - alpha^2 |x|) == triangle(width=1/alpha).
        cases.append(("triangle", width, surrogate.PiecewiseQuadratic(alpha=1.0 / width), 1.0 / width))
    for name, param, module, sj_alpha in cases:
        prim, grad = ref.SURROGATES[name]
        # Skip exact kink points where the "<" vs "<=" convention matters.
        mask = np.ones_like(xn, dtype=bool)
        if name == "rectangular":
            mask = np.abs(np.abs(xn) - param / 2) > 1e-9
        xi = xt.clone().requires_grad_(True)
        spikes = module(xi)
        (g,) = torch.autograd.grad(spikes.sum(), xi)
        CHECK.equal(sec, f"{name}({param}) heaviside vs SJ", ref.heaviside(xn), spikes.detach().numpy())
        CHECK.close(sec, f"{name}({param}) grad vs SJ backward", grad(xn, param)[mask], g.numpy()[mask],
                    rtol=1e-12, atol=1e-14)
        sj_prim = type(module).primitive_function(xt, sj_alpha).numpy()
        CHECK.close(sec, f"{name}({param}) primitive vs SJ", prim(xn, param), sj_prim, rtol=1e-12, atol=1e-14)
    CHECK.equal(sec, "heaviside(0) == 1", ref.heaviside(np.array([-1e-300, 0.0, -0.0])), [0.0, 1.0, 1.0])


# ---------------------------------------------------------------------------
# 2. LIF / PLIF
# ---------------------------------------------------------------------------

SJ_SURROGATES = {"sigmoid": surrogate.Sigmoid, "atan": surrogate.ATan}
TIE_MARGIN = 1e-5  # reject draws with any |H - v_th| below this (float32 vs float64 ties)


def _draw_input(rng, shape, simulate, scale):
    """Draw float32 inputs whose reference run has no near-threshold ties.

    Draws where (almost) nothing or everything fires are rejected too, so each
    configuration exercises both the spike and the no-spike reset branches.
    """
    for _ in range(1000):
        x = ((rng.standard_normal(shape) * 1.5 + 0.5) * scale).astype(np.float32)
        rec = simulate(x.astype(np.float64))
        no_ties = np.min(np.abs(rec["h"] - rec["v_threshold"])) >= TIE_MARGIN
        if no_ties and 0.05 <= rec["spikes"].mean() <= 0.95:
            return x, rec
    raise RuntimeError("could not draw a suitable input")


def _make_node(kind, tau, v_reset, decay_input, detach_reset, sg_name, alpha, v_threshold, store_v_seq=False):
    kwargs = dict(v_reset=v_reset, decay_input=decay_input, detach_reset=detach_reset,
                  surrogate_function=SJ_SURROGATES[sg_name](alpha=alpha), v_threshold=v_threshold,
                  step_mode="m", store_v_seq=store_v_seq)
    if kind == "lif":
        return neuron.LIFNode(tau=tau, **kwargs)
    return neuron.ParametricLIFNode(init_tau=tau, **kwargs)


def _to_tm(a, dtype):
    """[B, T, ...] numpy -> time-major [T, B, ...] torch."""
    return torch.from_numpy(np.ascontiguousarray(np.swapaxes(a, 0, 1))).to(dtype)


def _from_tm(t):
    return np.swapaxes(t.detach().numpy(), 0, 1).astype(np.float64)


def _atol32(expected, rec):
    """Absolute tolerance for float32 SpikingJelly vs float64 reference gradients.

    Round-off is a few ulps of the gradient's overall magnitude, not of each
    element (elements can be small differences of O(1) terms).  On top of that
    the reset's gradient term, -v_th * g' (soft) or (v_reset - H) * g' (hard),
    amplifies the absolute float32 error of g'; for the sigmoid surrogate that
    error is ~alpha * 2^-25 even in the tails, where SpikingJelly's float32
    alpha * s * (1 - s) has lost all relative accuracy.
    """
    if rec["v_reset"] is None:
        amplifier = abs(rec["v_threshold"])
    else:
        amplifier = float(np.max(np.abs(rec["h"] - rec["v_reset"])))
    return 1e-6 * max(1.0, float(np.max(np.abs(expected)))) * max(1.0, amplifier)


def _dk_term_scale(rec, grad_x):
    """sum |dL/dH * dH/dk| over all elements: the magnitude a float32 dL/dk sums over.

    Recomputed here from the reference x-gradient (dL/dH = dL/dx / k with
    decay_input, else dL/dx) so that the tolerance does not trust the reference
    code path under test.
    """
    vr0 = 0.0 if rec["v_reset"] is None else rec["v_reset"]
    v_prev = np.concatenate([rec["v_init"][:, None], rec["v"][:, :-1]], axis=1)
    if rec["decay_input"]:
        return float(np.sum(np.abs(grad_x / rec["k"] * (rec["x"] - (v_prev - vr0)))))
    return float(np.sum(np.abs(grad_x * (v_prev - vr0))))


# Diagnostics printed after the grid: firing rate per draw, and the float32
# w-grad error relative to the summed term magnitude.
NEURON_STATS = {"rates": [], "w_errs": []}


def check_neuron_case(rng, kind, v_reset, decay_input, detach_reset, n_steps, tau, sg_name,
                      alpha=None, v_threshold=1.0):
    sec32 = f"{kind} vs SJ float32 node"
    sec64 = f"{kind} vs SJ float64 autograd"
    alpha = ref.SURROGATE_DEFAULTS[sg_name] if alpha is None else alpha
    tag = (f"v_reset={v_reset} decay_input={decay_input} detach_reset={detach_reset} "
           f"T={n_steps} tau={tau} sg={sg_name}({alpha}) v_th={v_threshold}")
    shape = (3, n_steps, 5, 4)
    opts = dict(v_threshold=v_threshold, v_reset=v_reset, decay_input=decay_input,
                detach_reset=detach_reset, surrogate=sg_name, surrogate_param=alpha)

    node = _make_node(kind, tau, v_reset, decay_input, detach_reset, sg_name, alpha, v_threshold)
    if kind == "lif":
        simulate = lambda x: ref.lif_forward(x, tau=tau, **opts)  # noqa: E731
        backward = ref.lif_backward
    else:
        # The reference uses the exact float32 parameter SpikingJelly holds.
        w32 = float(node.w.detach().item())
        simulate = lambda x: ref.plif_forward(x, w=w32, **opts)  # noqa: E731
        backward = ref.plif_backward
        CHECK.close(sec32, f"init w {tag}", w32, ref.plif_init_w(tau), rtol=0, atol=1e-7)

    # decay_input divides the input by tau; compensate so rates stay comparable.
    x, rec = _draw_input(rng, shape, simulate, scale=tau if decay_input else 1.0)
    gs = rng.standard_normal(shape).astype(np.float32)
    gv = rng.standard_normal((shape[0],) + shape[2:]).astype(np.float32)
    g_spk = backward(rec, gs.astype(np.float64))
    g_vfin = backward(rec, np.zeros(shape), grad_v_final=gv.astype(np.float64))
    NEURON_STATS["rates"].append(rec["spikes"].mean())

    # (a) float32 node: SpikingJelly's CPU kernel + hand-written backward.
    functional.reset_net(node)
    x_t = _to_tm(x, torch.float32).requires_grad_(True)
    spikes = node(x_t)
    v_final = node.v
    params = [x_t] if kind == "lif" else [x_t, node.w]
    g1 = torch.autograd.grad((spikes * _to_tm(gs, torch.float32)).sum(), params, retain_graph=True)
    g2 = torch.autograd.grad((v_final * torch.from_numpy(gv)).sum(), params)
    CHECK.equal(sec32, f"spikes {tag}", _from_tm(spikes), rec["spikes"])
    CHECK.close(sec32, f"final v {tag}", v_final.detach().numpy(), rec["v_final"], rtol=1e-5, atol=1e-6)
    checks32 = [("x grad", _from_tm(g1[0]), g_spk["x"]), ("x grad via final v", _from_tm(g2[0]), g_vfin["x"])]
    for name, actual, expected in checks32:
        CHECK.close(sec32, f"{name} {tag}", actual, expected, rtol=1e-5, atol=_atol32(expected, rec))
    if kind == "plif":
        # dL/dw is a float32 reduction of B*T*20 terms that partly cancel; its
        # round-off scales with the sum of the terms' magnitudes.
        for name, actual, expected, gx in (("w grad", g1[1].item(), g_spk["w"], g_spk["x"]),
                                           ("w grad via final v", g2[1].item(), g_vfin["w"], g_vfin["x"])):
            scale = _dk_term_scale(rec, gx) * rec["k"] * (1 - rec["k"])
            NEURON_STATS["w_errs"].append(abs(actual - expected) / max(scale, 1e-30))
            CHECK.close(sec32, f"{name} {tag}", actual, expected, rtol=1e-5, atol=1e-6 * max(1.0, scale))

    # The full post-reset membrane trace (store_v_seq path, forward only).
    trace_node = _make_node(kind, tau, v_reset, decay_input, detach_reset, sg_name, alpha, v_threshold,
                            store_v_seq=True)
    with torch.no_grad():
        trace_node(_to_tm(x, torch.float32))
    CHECK.close(sec32, f"v trace {tag}", _from_tm(trace_node.v_seq), rec["v"], rtol=1e-5, atol=1e-6)

    # (b) float64: SpikingJelly's autograd reference (Python surrogate module).
    # For LIF, tau is passed as a tensor so autograd also differentiates it.
    x64 = _to_tm(x, torch.float64).requires_grad_(True)
    v0 = torch.full(x64.shape[1:], 0.0 if v_reset is None else v_reset, dtype=torch.float64)
    sg = SJ_SURROGATES[sg_name](alpha=alpha)
    if kind == "lif":
        leak = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
        spikes64, v64, _ = functional.lif_multi_step(x64, v0, leak, decay_input, v_threshold, v_reset, sg,
                                                     detach_reset)
        pname = "tau"
    else:
        leak = torch.tensor(w32, dtype=torch.float64, requires_grad=True)
        spikes64, v64, _ = functional.plif_multi_step(x64, v0, leak, decay_input, v_threshold, v_reset, sg,
                                                      detach_reset)
        pname = "w"
    g1 = torch.autograd.grad((spikes64 * _to_tm(gs, torch.float64)).sum(), [x64, leak], retain_graph=True)
    g2 = torch.autograd.grad((v64 * torch.from_numpy(gv).double()).sum(), [x64, leak])
    CHECK.equal(sec64, f"spikes {tag}", _from_tm(spikes64), rec["spikes"])
    CHECK.close(sec64, f"final v {tag}", v64.detach().numpy(), rec["v_final"], rtol=1e-12, atol=1e-12)
    CHECK.close(sec64, f"x grad {tag}", _from_tm(g1[0]), g_spk["x"], rtol=1e-10, atol=1e-12)
    CHECK.close(sec64, f"x grad via final v {tag}", _from_tm(g2[0]), g_vfin["x"], rtol=1e-10, atol=1e-12)
    CHECK.close(sec64, f"{pname} grad {tag}", g1[1].item(), g_spk[pname], rtol=1e-10, atol=1e-11)
    CHECK.close(sec64, f"{pname} grad via final v {tag}", g2[1].item(), g_vfin[pname], rtol=1e-10, atol=1e-11)


def check_neurons():
    rng = np.random.default_rng(1234)
    grid = itertools.product(("lif", "plif"), (0.0, None, -0.3), (True, False), (True, False),
                             (1, 2, 4, 8), (2.0, 3.0), ("sigmoid", "atan"))
    n_cases = 0
    for kind, v_reset, decay_input, detach_reset, n_steps, tau, sg_name in grid:
        check_neuron_case(rng, kind, v_reset, decay_input, detach_reset, n_steps, tau, sg_name)
        n_cases += 1
    # Off-default threshold and surrogate shape.
    for kind, v_reset, sg_name in itertools.product(("lif", "plif"), (0.0, None, -0.3), ("sigmoid", "atan")):
        check_neuron_case(rng, kind, v_reset, True, False, 6, 2.5, sg_name, alpha=1.7, v_threshold=0.6)
        n_cases += 1
    rates, w_errs = NEURON_STATS["rates"], NEURON_STATS["w_errs"]
    print(f"[neurons] {n_cases} configurations; firing rate over draws: "
          f"mean {np.mean(rates):.3f}, min {np.min(rates):.3f}, max {np.max(rates):.3f}")
    print(f"[neurons] float32 PLIF w-grad error / sum|terms|: max {max(w_errs):.2e}, "
          f"median {np.median(w_errs):.2e}")

    # Independent sanity checks of the reference's own chain rules.
    sec = "neuron chain rules"
    x = rng.standard_normal((2, 5, 3)) * 1.5 + 0.5
    gs = rng.standard_normal(x.shape)
    for tau in (2.0, 3.0):
        lif = ref.lif_forward(x, tau=tau, v_reset=None)
        plif = ref.plif_forward(x, w=ref.plif_init_w(tau), v_reset=None)
        CHECK.equal(sec, f"lif == plif forward tau={tau}", lif["spikes"], plif["spikes"])
        glif, gplif = ref.lif_backward(lif, gs), ref.plif_backward(plif, gs)
        k = 1.0 / tau
        # dL/dtau = dL/dk * (-1/tau^2),  dL/dw = dL/dk * k(1-k)
        CHECK.close(sec, f"tau vs w grad tau={tau}", glif["tau"],
                    gplif["w"] / (k * (1 - k)) * (-1.0 / tau**2), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------
# 3. TRT loss
# ---------------------------------------------------------------------------


def _trt_value_loops(o, o_rev, o_star, y, tgt_o, tgt_rev, *, reversal_weight, consistency_weight,
                     temperature, star_weight, kl_direction, symmetric):
    """Deliberately naive per-row implementation; KL targets come from tgt_*."""
    def ce(z):
        return sum(math.log(sum(math.exp(v) for v in row)) - row[label] for row, label in zip(z, y)) / len(y)

    def log_sm(row):
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        return [v - lse for v in row]

    def kl(target_logits, other_logits):
        total = 0.0
        for a, b in zip(target_logits, other_logits):
            la = log_sm([v / temperature for v in a])
            lb = log_sm([v / temperature for v in b])
            total += sum(math.exp(u) * (u - v) for u, v in zip(la, lb))
        return total / len(target_logits)

    o, o_rev, tgt_o, tgt_rev = (np.asarray(a).tolist() for a in (o, o_rev, tgt_o, tgt_rev))
    kl_pq = kl(tgt_o, o_rev)   # target p (from o)
    kl_qp = kl(tgt_rev, o)     # target q (from o_rev)
    if symmetric:
        kl_term = 0.5 * (kl_pq + kl_qp)
    else:
        kl_term = kl_pq if kl_direction == "original_to_reversed" else kl_qp
    total = ce(o) + reversal_weight * ce(o_rev) + consistency_weight * temperature**2 * kl_term
    if o_star is not None:
        total += star_weight * ce(np.asarray(o_star).tolist())
    return total


def _trt_torch(o, o_rev, o_star, y, *, reversal_weight, consistency_weight, temperature, star_weight,
               kl_direction, symmetric, stop_gradient_target):
    F = torch.nn.functional
    to = torch.tensor(o, dtype=torch.float64, requires_grad=True)
    tr = torch.tensor(o_rev, dtype=torch.float64, requires_grad=True)
    ts = None if o_star is None else torch.tensor(o_star, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.long)

    def kl(target, other):
        if stop_gradient_target:
            target = target.detach()
        # F.kl_div(input=log q, target=log p, log_target) = sum p (log p - log q).
        return F.kl_div(F.log_softmax(other / temperature, -1), F.log_softmax(target / temperature, -1),
                        reduction="batchmean", log_target=True)

    if symmetric:
        kl_term = 0.5 * (kl(to, tr) + kl(tr, to))
    elif kl_direction == "original_to_reversed":
        kl_term = kl(to, tr)
    else:
        kl_term = kl(tr, to)
    parts = {"task_loss": F.cross_entropy(to, yt), "reversed_loss": F.cross_entropy(tr, yt),
             "consistency_loss": temperature**2 * kl_term}
    total = parts["task_loss"] + reversal_weight * parts["reversed_loss"] + consistency_weight * parts[
        "consistency_loss"]
    if ts is not None:
        parts["star_loss"] = F.cross_entropy(ts, yt)
        total = total + star_weight * parts["star_loss"]
    inputs = [to, tr] + ([ts] if ts is not None else [])
    grads = torch.autograd.grad(total, inputs)
    return total.item(), {k: v.item() for k, v in parts.items()}, [g.numpy() for g in grads]


def check_trt_loss():
    sec_fd, sec_torch = "trt_loss vs finite differences", "trt_loss vs torch"
    rng = np.random.default_rng(99)
    batch, n_classes = 4, 5
    option_grid = itertools.product(
        ("original_to_reversed", "reversed_to_original"), (False, True), (False, True),
        (1.0, 2.5, 0.7), (True, False))
    n_combos = 0
    for kl_direction, symmetric, stop_grad, temperature, with_star in option_grid:
        n_combos += 1
        weights = dict(reversal_weight=float(rng.uniform(0.2, 1.5)),
                       consistency_weight=float(rng.uniform(0.2, 2.0)),
                       star_weight=float(rng.uniform(0.2, 1.5)))
        opts = dict(temperature=temperature, kl_direction=kl_direction, symmetric=symmetric, **weights)
        o, o_rev, o_star = (rng.standard_normal((batch, n_classes)) * 2.0 for _ in range(3))
        o_star = o_star if with_star else None
        y = rng.integers(0, n_classes, size=batch)
        tag = (f"dir={kl_direction} sym={symmetric} stop={stop_grad} T={temperature} "
               f"star={with_star}")

        total, comps, grads = ref.trt_loss(o, o_rev, o_star, y, stop_gradient_target=stop_grad, **opts)
        CHECK.close(sec_fd, f"value {tag}", total, _trt_value_loops(o, o_rev, o_star, y, o, o_rev, **opts),
                    rtol=1e-12, atol=1e-12)
        if not with_star:
            CHECK.true(sec_fd, f"no star {tag}", grads["o_star"] is None and comps["star_loss"] == 0.0)

        # Central differences; stop-gradient targets stay at the unperturbed logits.
        def value(o_, r_, s_):
            return _trt_value_loops(o_, r_, s_, y, o if stop_grad else o_, o_rev if stop_grad else r_, **opts)

        h = 1e-6
        arrays = {"o": o, "o_rev": o_rev} | ({"o_star": o_star} if with_star else {})
        for key, arr in arrays.items():
            fd = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                plus, minus = {k: v.copy() for k, v in arrays.items()}, {k: v.copy() for k, v in arrays.items()}
                plus[key][idx] += h
                minus[key][idx] -= h
                fd[idx] = (value(plus["o"], plus["o_rev"], plus.get("o_star"))
                           - value(minus["o"], minus["o_rev"], minus.get("o_star"))) / (2 * h)
            CHECK.close(sec_fd, f"d/d{key} {tag}", grads[key], fd, rtol=1e-6, atol=1e-8)

        t_total, t_comps, t_grads = _trt_torch(o, o_rev, o_star, y, stop_gradient_target=stop_grad, **opts)
        CHECK.close(sec_torch, f"value {tag}", total, t_total, rtol=1e-12, atol=1e-12)
        for key, val in t_comps.items():
            CHECK.close(sec_torch, f"{key} {tag}", comps[key], val, rtol=1e-12, atol=1e-12)
        for key, tg in zip(arrays, t_grads):
            CHECK.close(sec_torch, f"d/d{key} {tag}", grads[key], tg, rtol=1e-10, atol=1e-13)

    # kl_direction is validated.
    try:
        ref.trt_loss(o, o_rev, None, y, kl_direction="sideways")
        CHECK.true(sec_fd, "bad kl_direction raises", False, "no error raised")
    except ValueError:
        CHECK.true(sec_fd, "bad kl_direction raises", True)
    print(f"[trt_loss] {n_combos} option combinations")


def main():
    from importlib.metadata import version

    print(f"torch {torch.__version__}, spikingjelly {version('spikingjelly')}, numpy {np.__version__}")
    check_surrogates()
    check_neurons()
    check_trt_loss()
    ok = CHECK.summary()
    print("\nALL CHECKS PASSED" if ok else "\nVERIFICATION FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
