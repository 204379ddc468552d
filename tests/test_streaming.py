"""Streaming (keras_trt.streaming): every registered architecture fed chunk by chunk equals the
whole-sequence model, on the current backend.

The reference is the whole-sequence model itself, an independent code path: its LIF layers'
spikes (``analysis.spike_probe``, the fused multi-step op), ``predict``, and its classifier
applied to the cumulative mean of its backbone's spike features (the readout after t steps).
The carried neuron maths is also checked against tests/reference.py's NumPy LIF.
"""

import os
import sys

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import analysis, layers, models, streaming
from keras_trt.models import heads

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "models"))
import reference  # noqa: E402
from arch_helpers import activate, architectures_under_test, build, inputs_for  # noqa: E402

JAX = keras.backend.backend() == "jax"
T_STATIC = 5  # static-input models are built with T = 5: chunks of 2 and 3 leave a remainder
CHUNKINGS = ((1,), (2,), (3,))
IRREGULAR = (2, 3, 1)  # for a T that 2 and 3 divide (the temporal MLP: T = 6): a remainder all the same


def _small(name, seed=0):
    arch = models.get_architecture(name)
    kwargs = dict(arch.small)
    model = build(name, seed=seed, **kwargs)
    if any(isinstance(l, layers.RepeatTime) for l in model.layers):
        model = build(name, seed=seed, **{**kwargs, "timesteps": T_STATIC})
    activate(model, seed)
    return model


def _chunks(total, sizes):
    """Chunk lengths cycling through ``sizes`` until ``total`` steps (the last one cut short)."""
    out, i = [], 0
    while sum(out) < total:
        out.append(min(sizes[i % len(sizes)], total - sum(out)))
        i += 1
    return out


def _stream(stream, x, sizes, total):
    """The outputs and spikes of a new stream fed ``x`` in chunks of ``sizes``, concatenated."""
    state = stream.initial_state(x.shape[0])
    outs, spikes = [], {}
    for k in _chunks(total, sizes):
        start = sum(o.shape[1] for o in outs)
        chunk = x if stream.static_input else x[:, start:start + k]
        (out, s), state = stream.step(state, chunk, steps=k if stream.static_input else None, return_spikes=True)
        outs.append(keras.ops.convert_to_numpy(out))
        for name, v in s.items():
            spikes.setdefault(name, []).append(keras.ops.convert_to_numpy(v))
    return np.concatenate(outs, 1), {n: np.concatenate(v, 1) for n, v in spikes.items()}, state


def _whole_sequence(model, x):
    """The whole-sequence model's spikes ``{name: [B, T, ...]}``, logits ``[B, K]`` and running
    readout ``[B, T, K]``: its classifier on the cumulative mean of its spike features."""
    probe = analysis.spike_probe(model)
    features = heads.backbone(model).output
    both = keras.Model(model.input, [probe.output, features, model.output])
    # Compiled on JAX, whose eager ops compile one by one; a direct call elsewhere (faster here).
    spikes, features, logits = both.predict_on_batch(x) if JAX else both(x, training=False)
    spikes = {n: keras.ops.convert_to_numpy(s) for n, s in spikes.items()}
    features = keras.ops.convert_to_numpy(features).astype("float64")
    running = np.cumsum(features, 1) / np.arange(1, features.shape[1] + 1)[:, None]
    classifier = model.get_layer(heads.CLASSIFIER)
    flat = running.reshape((-1, running.shape[-1])).astype("float32")
    running = keras.ops.convert_to_numpy(classifier(flat)).reshape(running.shape[:2] + (-1,))
    return spikes, keras.ops.convert_to_numpy(logits), running


@pytest.mark.parametrize("name", architectures_under_test())
def test_chunked_stream_equals_the_whole_sequence(name):
    model = _small(name)
    x = inputs_for(model, n=2)
    whole, logits, running = _whole_sequence(model, x)
    total = running.shape[1]
    assert max(s.mean() for s in whole.values()) > 0.01, "the test model must spike"
    stream = streaming.Stream(model, compile=JAX)  # the compiled TF step is tested below
    for sizes in CHUNKINGS + ((IRREGULAR,) if total % 6 == 0 else ()):
        out, spikes, state = _stream(stream, x, sizes, total)
        assert set(spikes) == set(whole)
        for layer_name, s in whole.items():
            np.testing.assert_array_equal(spikes[layer_name], s, err_msg=f"{name}: {layer_name}, chunks {sizes}")
        np.testing.assert_allclose(out, running, atol=1e-6, rtol=0, err_msg=f"{name}, chunks {sizes}")
        np.testing.assert_allclose(out[:, -1], logits, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(state["steps"]), total)


def _mlp(seed=0, timesteps=7):
    keras.utils.set_random_seed(seed)
    model = models.build("smlp", input_shape=(timesteps, 5), hidden=(8, 8), num_classes=3, neuron="plif")
    activate(model, seed)
    return model


def test_stateful_stream_resets_all_rows_and_single_rows():
    model = _mlp()
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 7, 5)).astype("float32") * 2
    b = rng.normal(size=(3, 7, 5)).astype("float32") * 2
    stream = streaming.Stream(model, batch_size=3)
    first = np.concatenate([stream(a[:, :3]), stream(a[:, 3:])], 1)
    np.testing.assert_allclose(first[:, -1], model.predict(a, verbose=0), atol=1e-6)
    stream.reset_state()
    second = np.concatenate([stream(b[:, :2]), stream(b[:, 2:])], 1)
    fresh = streaming.Stream(model, batch_size=3)
    np.testing.assert_allclose(second, np.concatenate([fresh(b[:, :4]), fresh(b[:, 4:])], 1), atol=0)
    np.testing.assert_allclose(second[:, -1], model.predict(b, verbose=0), atol=1e-6)

    # Row 1 starts b after 3 steps of a; rows 0 and 2 go on with a, as if nothing happened.
    stream.reset_state()
    stream(a[:, :3])
    stream.reset_state(rows=[1])
    np.testing.assert_array_equal(stream.steps_seen, [3, 0, 3])
    mixed = a.copy()
    mixed[1, 3:] = b[1, :4]
    rest = np.asarray(stream(mixed[:, 3:]))
    untouched = streaming.Stream(model, batch_size=3)
    untouched(a[:, :3])
    np.testing.assert_array_equal(rest[[0, 2]], np.asarray(untouched(a[:, 3:]))[[0, 2]])
    alone = streaming.Stream(model, batch_size=3).run_sequence(b[:, :4])
    np.testing.assert_allclose(rest[1], alone[1], atol=1e-6)
    np.testing.assert_array_equal(stream.steps_seen, [7, 4, 7])


def test_carried_membranes_match_the_numpy_lif():
    """A soft-reset LIF and a hard-reset PLIF (decay_input=False) streamed in chunks of 2 equal
    tests/reference.py's multi-step NumPy neurons on the whole sequence."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 4))
    h = layers.TimeFolded(keras.layers.Dense(5, name="d"), name="fc")(inp)
    s1 = layers.LIF(tau=3.0, v_reset=None, name="lif")(h)
    s2 = layers.ParametricLIF(init_tau=1.7, decay_input=False, v_threshold=0.6, name="plif")(s1)
    model = keras.Model(inp, heads.classifier_head(s2, 2))
    model.get_layer("plif").w.assign(0.3)
    x = np.random.default_rng(2).normal(size=(2, 6, 4)).astype("float32") * 3
    dense = model.get_layer("fc").layer
    pre = x @ keras.ops.convert_to_numpy(dense.kernel) + keras.ops.convert_to_numpy(dense.bias)
    ref1 = reference.lif_forward(pre, tau=3.0, v_reset=None)
    ref2 = reference.plif_forward(ref1["spikes"], w=0.3, decay_input=False, v_threshold=0.6)
    _, spikes, state = _stream(streaming.Stream(model, compile=False), x, (2,), 6)
    assert 0 < ref1["spikes"].mean() < 1 and 0 < ref2["spikes"].mean() < 1
    np.testing.assert_array_equal(spikes["lif"], ref1["spikes"])
    np.testing.assert_array_equal(spikes["plif"], ref2["spikes"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(state["lif/membrane"]), ref1["v_final"], atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(state["plif/membrane"]), ref2["v_final"], atol=1e-5)


def test_compiled_step_equals_the_eager_one_and_frames_per_step():
    model = _small("spiking_cnn")
    x = inputs_for(model, n=2)
    eager, compiled = streaming.Stream(model, compile=False), streaming.Stream(model, compile=True)
    a, _, _ = _stream(eager, x, (2,), T_STATIC)
    b, _, _ = _stream(compiled, x, (2,), T_STATIC)
    np.testing.assert_allclose(a, b, atol=1e-6)
    # One frame per step ([B, k, H, W, C]) is the same as the frame shown k times.
    frames = np.repeat(x[:, None], 3, axis=1)
    state = eager.initial_state(2)
    out_frames, _ = eager.step(state, frames)
    out_steps, _ = eager.step(state, x, steps=3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out_frames), keras.ops.convert_to_numpy(out_steps), atol=0)


def test_bad_chunks_are_refused_with_the_fix():
    model = _mlp()
    stream = streaming.Stream(model, batch_size=2)
    with pytest.raises(streaming.StreamingError, match="has 3 rows but the stream has 2.*batch_size=3"):
        stream(np.zeros((3, 2, 5), "float32"))
    with pytest.raises(streaming.StreamingError, match=r"chunks of shape \(batch, k, 5\).*chunk\[:, None\]"):
        stream(np.zeros((2, 5), "float32"))
    with pytest.raises(streaming.StreamingError, match=r"chunks of shape \(batch, k, 5\)"):
        stream(np.zeros((2, 1, 4), "float32"))
    bad = np.zeros((2, 2, 5), "float32")
    bad[1, 1, 3] = np.nan
    with pytest.raises(streaming.StreamingError, match=r"NaN.*\(1, 1, 3\).*nan_to_num"):
        stream(bad)
    np.testing.assert_array_equal(stream.steps_seen, [0, 0])  # nothing was half applied
    with pytest.raises(streaming.StreamingError, match="rows must be row indices"):
        stream.reset_state(rows=[2])
    image = streaming.Stream(_small("spiking_cnn"), batch_size=2)
    with pytest.raises(streaming.StreamingError, match=r"one frame per stream, shape \(batch, 8, 8, 1\)"):
        image(np.zeros((2, 8, 8, 3), "float32"))


def _time_mixing(layer):
    inp = keras.Input((5, 4))
    h = layers.LIF(name="lif")(layers.TimeFolded(keras.layers.Dense(6), name="fc")(inp))
    return keras.Model(inp, keras.layers.Dense(2)(layers.StarProduct()(layer(h))))


@pytest.mark.parametrize("layer, message", [
    (lambda: keras.layers.Conv1D(6, 2, padding="causal", name="tconv"), r"'tconv' \(Conv1D\) mix time steps"),
    (lambda: keras.layers.GRU(6, return_sequences=True, name="gru"), r"'gru' \(GRU\) mix time steps"),
    (lambda: keras.layers.Reshape((5, 6), name="r"), None),  # a reshape that keeps the steps streams
])
def test_a_layer_that_mixes_time_is_named(layer, message):
    model = _time_mixing(layer())
    if message is None:
        x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32") * 3
        out = streaming.Stream(model, compile=False).run_sequence(x, chunk_size=2)
        np.testing.assert_allclose(out[:, -1], keras.ops.convert_to_numpy(model(x)), atol=1e-6)
        return
    with pytest.raises(streaming.StreamingError, match=message):
        streaming.Stream(model)


def test_flattening_time_is_refused():
    inp = keras.Input((5, 4))
    h = layers.LIF(name="lif")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten(name="flat")(h)))
    with pytest.raises(streaming.StreamingError, match=r"'flat' \(Flatten\).*without the time axis"):
        streaming.Stream(model)


def test_exported_step_run_by_onnxruntime_equals_predict(tmp_path):
    """The one-step model in ONNX (state as inputs and outputs), looped step by step in
    onnxruntime, equals the whole-sequence predict: a temporal MLP with PLIF neurons and a
    static-image CNN (frame in, one step per call)."""
    ort = pytest.importorskip("onnxruntime")
    for model, x in ((_mlp(), None), (_small("spiking_cnn"), None)):
        stream = streaming.Stream(model)
        x = inputs_for(model, n=2) * (1.0 if stream.static_input else 2.0)
        path = str(tmp_path / f"{model.name}.onnx")
        keys = streaming.export_step_onnx(stream, path, batch_size=2)
        session = ort.InferenceSession(path)
        names = [i.name for i in session.get_inputs()]
        assert names[0] == "chunk" and len(names) == 1 + len(keys)
        state = [keras.ops.convert_to_numpy(stream.initial_state(2)[k]) for k in keys]
        outs = []
        for t in range(stream.timesteps):
            chunk = x if stream.static_input else x[:, t:t + 1]
            out, *state = session.run(None, dict(zip(names, [chunk] + state)))
            outs.append(out)
        whole = model.predict(x, verbose=0)
        assert np.ptp(whole) > 0.1  # the test model must not be silent
        np.testing.assert_allclose(outs[-1][:, -1], whole, atol=1e-5)
        np.testing.assert_allclose(np.concatenate(outs, 1), stream.run_sequence(x), atol=1e-5)


def test_anytime_decisions_and_report(tmp_path):
    from keras_trt import anytime

    logits = np.array([
        [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]],    # confident in class 0 from step 2
        [[0.0, 0.5, 0.0], [0.0, 0.6, 0.0], [0.0, 0.7, 0.0]],    # never confident: last step, class 1
    ])
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(anytime.scores(logits), probs.max(-1))
    top2 = np.sort(probs, -1)[..., -2:]
    np.testing.assert_allclose(anytime.scores(logits, "margin"), top2[..., 1] - top2[..., 0])
    decisions, used = anytime.early_exit(logits, 0.7)  # softmax([2, 0, 0])[0] = 0.787
    assert decisions.tolist() == [0, 1] and used.tolist() == [2, 3]
    assert anytime.first_confident_step(logits, 0.7).tolist() == [1, -1]
    report = anytime.report_from_outputs(logits, [0, 2], thresholds=(0.3, 0.7, 0.99))
    np.testing.assert_allclose(report.accuracy_by_step, [0.5, 0.5, 0.5])  # a tie goes to the first class
    np.testing.assert_allclose(report.mean_steps, [1.0, 2.5, 3.0])
    np.testing.assert_allclose(report.threshold_accuracy, [0.5, 0.5, 0.5])
    assert "| 0.7 | 50.00 | 2.50 |" in report.to_markdown()
    assert report.plot(str(tmp_path / "a.png")).endswith("a.png") and (tmp_path / "a.png").stat().st_size > 0
    with pytest.raises(ValueError, match="rule must be one of"):
        anytime.scores(logits, "entropy")
    # On a model: the last step of the running outputs is predict; steps used lie in 1..T.
    model = _mlp()
    x = np.random.default_rng(4).normal(size=(5, 7, 5)).astype("float32") * 2
    outputs = anytime.running_outputs(model, x, batch_size=2, progress=False)
    np.testing.assert_allclose(outputs[:, -1], model.predict(x, verbose=0), atol=1e-6)
    report = anytime.anytime_report(model, x, np.arange(5) % 3, thresholds=(0.0, 1.1), batch_size=2)
    np.testing.assert_allclose(report.mean_steps, [1.0, 7.0])  # threshold 0 stops at once, 1.1 never
