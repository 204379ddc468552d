"""Where a benchmark step spends its time, op by op, in each framework's own profiler.

Used by :mod:`benchmarks.profile_step` through the worker's ``profile`` command: TensorFlow's and
JAX's profilers write an XPlane trace (read with ``jax.profiler.ProfileData``), torch's profiler
(keras-trt on torch, SpikingJelly, snnTorch) is read from its ``key_averages``. Each op's time is
its *self* time (a function-call op that contains other ops is charged only for what its children
do not cover), summed over the threads that run ops, per step. Ops are then put in the
categories of :data:`CATEGORIES`, so that frameworks whose ops have different names compare.

>>> category("Conv2DBackpropFilter"), category("aten::mkldnn_convolution"), category("copy.12")
('convolution, backward', 'convolution, forward', 'layout and copies')
>>> self_times([("a", 0, 10), ("b", 2, 3), ("c", 6, 1)])
{'a': 6, 'b': 3, 'c': 1}
"""

from __future__ import annotations

import collections
import glob
import os
import re

#: (category, pattern on the lower-cased op name), the first match wins.
CATEGORIES = (
    ("convolution, backward", r"backprop|convolution_backward|conv.*backward|backward.*conv"),
    ("convolution, forward", r"conv(?!ert)"),
    ("batch normalization", r"batch_?norm|fusedbatchnorm"),
    ("matmul (classifier)", r"matmul|aten::mm$|aten::addmm|aten::linear|\bdot\b|dot\.|gemm"),
    ("casts", r"^cast$|^aten::to$|_to_copy|convert|aten::copy_$"),
    ("layout and copies", r"transpose|reorder|copy|tile|concat|repeat|permute|contiguous|clone|"
                          r"bitcast|slice|pad|reshape|expand|stack|split|pack|gather|identity"),
    ("reductions and loss", r"sum|mean|reduce|softmax|cross_entropy|nll|^max$|argmax|aten::max$"),
    ("optimizer and variables", r"resourceapply|assignvariable|readvariable|assignadd|assignsub|"
                                r"sgd|momentum|varhandle"),
    ("element-wise (LIF, surrogate, residual)", r"mul|add|sub|div|greater|less|equal|select|where|"
                                                r"neg|exp|log|sigmoid|atan|square|sqrt|maximum|"
                                                r"minimum|fill|zeros|ones|fusion|heaviside|sign|"
                                                r"relu|clamp|abs|pow|rsqrt|reciprocal|logical"),
)
OTHER = "other"


def category(name):
    """The category of an op name (TensorFlow op type, HLO instruction, ``aten::`` op)."""
    low = name.lower()
    for label, pattern in CATEGORIES:
        if re.search(pattern, low):
            return label
    return OTHER


def self_times(events):
    """``{name: summed self time}`` of ``(name, start, duration)`` events of one thread: an
    event nested in another is subtracted from its parent's time."""
    out = collections.Counter()
    stack = []  # (end, name) of the open events
    for name, start, duration in sorted(events, key=lambda e: (e[1], -e[2])):
        while stack and stack[-1][0] <= start:
            stack.pop()
        if stack:
            out[stack[-1][1]] -= duration
        out[name] += duration
        stack.append((start + duration, name))
    return dict(out)


# XPlane event names that are the runtime's own bookkeeping, not ops.
_RUNTIME = re.compile(r"^(ThreadpoolListener|ThunkExecutor|ExecutorState|Memory|end: |EagerExecute|"
                      r"\$|KernelAndDeviceFunc|TFE_|ValidateInput|EagerLocalExecute|EagerCopy)")


def xplane_ops(path, backend):
    """``{op: (milliseconds, calls)}`` summed over the op threads of an XPlane trace: TensorFlow's
    executor ops (events ``scope/name:Type``, keyed by ``Type``) or XLA:CPU's thunks (HLO
    instructions, keyed without their ``.N`` suffix)."""
    from jax.profiler import ProfileData

    data = ProfileData.from_file(path)
    totals, calls = collections.Counter(), collections.Counter()
    for plane in data.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if line.name == "python":
                continue
            events = []
            for e in line.events:
                name = e.name
                if _RUNTIME.match(name):
                    continue
                if backend == "tensorflow":
                    if ":" not in name:
                        continue
                    name = name.rsplit(":", 1)[1]
                else:
                    name = re.sub(r"\.\d+$", "", name)
                events.append((name, e.start_ns, e.duration_ns))
                calls[name] += 1
            for name, ns in self_times(events).items():
                totals[name] += ns / 1e6
    return {name: (totals[name], calls[name]) for name in totals}


def torch_ops(prof):
    """``{op: (milliseconds, calls)}`` of a finished ``torch.profiler.profile``, self CPU time."""
    return {e.key: (e.self_cpu_time_total / 1e3, e.count) for e in prof.key_averages()}


def profile(run, n, framework, trace_dir):
    """Calls ``run`` (``n`` steps) under ``framework``'s profiler (``keras-tensorflow``,
    ``keras-jax``, anything else torch-based). Returns ``({op: [ms per step, calls per step]},
    what run returned)``."""
    os.makedirs(trace_dir, exist_ok=True)
    if framework.startswith("keras-tensorflow"):
        import tensorflow as tf

        options = tf.profiler.experimental.ProfilerOptions(host_tracer_level=3)  # op-level events
        profiler = tf.profiler.experimental.Profile(trace_dir, options=options)
    elif framework.startswith("keras-jax"):
        import jax

        profiler = jax.profiler.trace(trace_dir)
    else:
        import torch

        profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
    with profiler as prof:
        result = run()
    if framework.startswith(("keras-tensorflow", "keras-jax")):
        ops = xplane_ops(_newest_trace(trace_dir), framework.split("-")[1])
    else:
        ops = torch_ops(prof)
    return {k: [ms / n, c / n] for k, (ms, c) in ops.items() if ms > 0}, result


def _newest_trace(trace_dir):
    found = sorted(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True),
                   key=os.path.getmtime)
    if not found:
        raise RuntimeError(f"the profiler wrote no *.xplane.pb under {trace_dir}")
    return found[-1]


def by_category(ops):
    """``{category: ms per step}`` of :func:`profile`'s ``ops``."""
    out = collections.Counter()
    for name, (ms, _) in ops.items():
        out[category(name)] += ms
    return dict(out)
