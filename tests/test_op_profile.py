"""``benchmarks.op_profile`` reads each backend's profiler: a training step of a network with a
known number of convolutions shows that many convolution calls, in the right categories. (The
times themselves are never asserted.)"""

import keras
import numpy as np
import pytest

from benchmarks import op_profile

CONVS = 2


def _step():
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4),
    ])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 12, 12, 3), dtype=np.float32), rng.integers(0, 4, 8)
    model.train_on_batch(x, y)  # traced and compiled before the profiled steps
    model.train_on_batch(x, y)
    return lambda: model.train_on_batch(x, y)


def test_a_training_step_shows_its_convolutions(tmp_path):
    backend = keras.backend.backend()
    steps = 2
    step = _step()
    ops, calls_made = op_profile.profile(lambda: [step() for _ in range(steps)], steps,
                                         f"keras-{backend}", str(tmp_path))
    assert len(calls_made) == steps
    calls = {c: 0.0 for c, _ in op_profile.CATEGORIES}
    for name, (ms, n) in ops.items():
        assert ms >= 0 and n > 0
        calls[op_profile.category(name)] = calls.get(op_profile.category(name), 0.0) + n
    if backend == "jax":
        # XLA names its backward convolutions "convolution" too, and fuses some into others.
        assert calls["convolution, forward"] >= CONVS
    elif backend == "tensorflow":
        assert calls["convolution, forward"] == pytest.approx(CONVS)
        # The first convolution needs no gradient for its input: 2 filter + 1 input gradients.
        assert calls["convolution, backward"] == pytest.approx(3)
    else:
        # torch's dispatcher nests aten::conv2d > convolution > _convolution > the kernel, each
        # an op of its own (the wrappers with little self time); one backward op per layer.
        assert ops["aten::conv2d"][1] == pytest.approx(CONVS)
        assert ops["aten::convolution_backward"][1] == pytest.approx(CONVS)
    # The categories share out the ops' time, nothing lost or counted twice.
    assert sum(op_profile.by_category(ops).values()) == pytest.approx(sum(ms for ms, _ in ops.values()))


@pytest.mark.backend_independent
def test_nested_events_are_charged_their_self_time():
    # A function call (0-10) holding a convolution (1-5) that holds a reorder (2-3), then a Mul (6-8).
    events = [("Call", 0, 10), ("Conv2D", 1, 4), ("Reorder", 2, 1), ("Mul", 6, 2)]
    times = op_profile.self_times(events)
    assert times == {"Call": 4, "Conv2D": 3, "Reorder": 1, "Mul": 2}
    assert sum(times.values()) == 10  # the outer call's span, shared out


@pytest.mark.backend_independent
@pytest.mark.parametrize("name, want", [
    ("_MklNativeConv2DBackpropFilter", "convolution, backward"),
    ("aten::convolution_backward", "convolution, backward"),
    ("_MklNativeConv2D", "convolution, forward"),
    ("convert_fusion", "casts"),
    ("Cast", "casts"),
    ("aten::native_batch_norm_backward", "batch normalization"),
    ("transpose_copy_fusion", "layout and copies"),
    ("Max", "reductions and loss"),
    ("Maximum", "element-wise (LIF, surrogate, residual)"),
    ("ResourceApplyKerasMomentum", "optimizer and variables"),
    ("SomethingNew", "other"),
])
def test_categories(name, want):
    assert op_profile.category(name) == want
