"""One data check for every entry point (keras_trt.trt.data_checks), in the user's order: a
wrong call is refused before Keras traces anything, then the right call and fit still work."""

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import analysis, diagnostics
from keras_trt.trt import data_checks

from backend_utils import BACKEND

T, F, K = 6, 5, 3


def _model():
    m = keras_trt.models.build("smlp", input_shape=(T, F), hidden=(8, 8), num_classes=K)
    m.compile("adam", metrics=["accuracy"], trt=True)
    return m


def _data(n=16):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, T, F)).astype("float32"), rng.integers(0, K, n)


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.mark.parametrize("entry", ["predict", "evaluate", "fit"])
def test_wrong_steps_then_right_call_then_fit(entry):
    m = _model()  # fresh: the first call is the wrong one (JAX and TF broke here)
    x, y = _data()
    call = getattr(m, entry)
    args = (x[:, : T - 1],) if entry == "predict" else (x[:, : T - 1], y)
    with pytest.raises(data_checks.DataError, match=f"the time axis has {T - 1} steps but this model was built for T={T}"):
        call(*args, verbose=0)
    assert m.predict(x, verbose=0).shape == (16, K)
    assert np.isfinite(m.fit(x, y, epochs=1, verbose=0).history["loss"][0])


def test_wrong_rank_names_the_shape_and_t(model):
    x, _ = _data()
    with pytest.raises(data_checks.DataError, match=rf"rank 3, shape \(None, {T}, {F}\) \(batch first, then T={T} time steps\)"):
        model.predict(x[:, 0], verbose=0)


@pytest.mark.parametrize("entry", ["evaluate", "predict"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e30])
def test_nonfinite_and_absurd_inputs_are_refused_at_inference(model, entry, bad):
    x, y = _data()
    x[5, 1, 2] = bad
    args = (x,) if entry == "predict" else (x, y)
    match = "NaN/Inf value" if not np.isfinite(bad) else "values up to 1e\\+30 in magnitude .*Rescale"
    with pytest.raises(data_checks.DataError, match=match + ".*" if bad != 1e30 else match):
        getattr(model, entry)(*args, verbose=0)


def test_labels_outside_the_classifier_are_refused_by_evaluate(model):
    x, y = _data()  # JAX scored these {'accuracy': 0.0, 'loss': 0.0}
    with pytest.raises(data_checks.DataError, match=rf"class ids outside \[0, {K}\)"):
        model.evaluate(x, y + K, verbose=0)


def test_scaled_inputs_are_refused_by_fit_and_normal_scales_pass(model):
    x, y = _data()
    with pytest.raises(data_checks.DataError, match="Rescale the inputs"):
        model.fit(x * 1e30, y, verbose=0)
    data_checks.check_arrays(np.full((2, 3), 255.0), None)  # raw 8-bit pixels pass


@pytest.mark.parametrize("entry", ["fit", "evaluate"])
def test_empty_inputs_name_the_problem(model, entry):
    import tensorflow as tf

    x, y = _data()
    with pytest.raises(data_checks.DataError, match=f"{entry} got no data: x has 0 samples"):
        getattr(model, entry)(x[:0], y[:0], verbose=0)
    empty = tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(4)
    with pytest.raises(data_checks.DataError, match="yields no batches"):
        getattr(model, entry)(empty, verbose=0)


def test_streams_are_checked_batch_by_batch_and_the_model_stays_usable(model):
    import tensorflow as tf

    x, y = _data()
    bad = x.copy()
    bad[13, 0, 0] = np.nan  # in batch 3 of 4: a first-batch check would miss it
    stream = tf.data.Dataset.from_tensor_slices((bad, y)).batch(4)
    with pytest.raises(data_checks.DataError, match=r"x \(batch 3\) holds 1 NaN/Inf"):
        model.fit(stream, verbose=0)
    assert np.isfinite(model.fit(stream, verbose=0, check_data="first").history["loss"][0])

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return bad[4 * i: 4 * i + 4], y[4 * i: 4 * i + 4]

    with pytest.raises(data_checks.DataError, match=r"x \(batch 3\)"):
        model.evaluate(Batches(), verbose=0)
    with pytest.raises(data_checks.DataError, match=r"x \(batch 3\)"):
        model.predict(((bad[i:i + 4],) for i in range(0, 16, 4)), verbose=0)
    # A generator's unknown T is checked per batch, then stated to Keras.
    gen = tf.data.Dataset.from_generator(lambda: ((x[i:i + 4], y[i:i + 4]) for i in range(0, 16, 4)),
                                         output_signature=(tf.TensorSpec((None, None, F)), tf.TensorSpec((None,), tf.int64)))
    assert np.isfinite(model.evaluate(gen, verbose=0)[0])
    assert np.isfinite(model.fit(x, y, verbose=0).history["loss"][0])


def test_profile_and_diagnostics_refuse_nan_and_identical_inputs():
    m = _model()
    x, _ = _data(32)
    nan = x.copy()
    nan[3, 0, 0] = np.nan
    with pytest.raises(data_checks.DataError, match="NaN/Inf"):
        analysis.profile(m, nan)
    before = [np.array(w) for w in m.get_weights()]
    with pytest.raises(data_checks.DataError, match="NaN/Inf"):
        diagnostics.recalibrate_batch_norm(m, nan)  # used to return and ruin the model
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, np.array(b))
    for same, what in ((np.zeros_like(x), "all zero"), (np.repeat(x[:1], 32, 0), "all the same sample")):
        with pytest.raises(data_checks.DataError, match=f"32 identical inputs \\({what}\\): this is an input problem"):
            diagnostics.check_silence(m, same)
    with pytest.raises(data_checks.DataError, match="the time axis has 5 steps"):
        diagnostics.check_silence(m, x[:, :5])


@pytest.mark.backend_independent
def test_embedded_datasets_pass_the_scale_rule():
    from keras_trt.data import embedded

    for name in ("digits", "mnist5k", "basic_motions", "japanese_vowels", "mnist_points"):
        loader = getattr(embedded, f"load_{name}", None)
        if loader is None:
            continue
        arrays = [a for a in keras.tree.flatten(loader()) if isinstance(a, np.ndarray) and a.ndim > 1]
        assert arrays, name
        assert max(float(np.abs(a).max()) for a in arrays) < data_checks.MAX_ABS_INPUT / 1000, name
