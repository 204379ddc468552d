"""TRTModel.fit refuses data that would train silently wrong, before the first step."""

import keras
import numpy as np
import pytest

import tiny_models

UNITS = 4


def _data(n=6):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 2, (n, 8, 8, 1)).astype("float32"), rng.integers(0, UNITS, n)


@pytest.fixture(scope="module")
def model():
    m = tiny_models.static_cnn(num_classes=UNITS)
    m.compile("adam", trt=True)
    return m


def _weights(m):
    return [np.array(w) for w in m.get_weights()]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_inputs_are_refused(model, bad):
    x, y = _data()
    x[4, 2, 3, 0] = bad
    before = _weights(model)
    with pytest.raises(ValueError, match="x holds 1 NaN/Inf value\\(s\\) \\(the first in sample 4\\).*nan_to_num"):
        model.fit(x, y, verbose=0)
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)  # nothing trained


@pytest.mark.parametrize("labels", [[0, 1, 4, 2, 3, 1], [0, -1, 2, 2, 3, 1]])
def test_labels_outside_the_classifier_are_refused(model, labels):
    x, _ = _data()
    with pytest.raises(ValueError, match=f"class ids outside \\[0, {UNITS}\\).*num_classes=K"):
        model.fit(x, np.array(labels), verbose=0)


def test_one_hot_labels_with_the_sparse_loss_name_the_fix(model):
    x, y = _data()
    with pytest.raises(ValueError, match="looks one-hot.*CategoricalCrossentropy\\(from_logits=True\\)"):
        model.fit(x, np.eye(UNITS, dtype="float32")[y], verbose=0)
    with pytest.raises(ValueError, match="non-integer values"):
        model.fit(x, y + 0.5, verbose=0)


def test_validation_data_and_first_batch_of_a_dataset_are_checked(model):
    import tensorflow as tf

    x, y = _data()
    with pytest.raises(ValueError, match="y \\(validation_data\\) holds class ids outside"):
        model.fit(x, y, validation_data=(x, y + UNITS), verbose=0)
    stream = tf.data.Dataset.from_tensor_slices((x, y + UNITS)).batch(3)
    with pytest.raises(ValueError, match="y \\(batch 0\\) holds class ids outside"):
        model.fit(stream, verbose=0)


def test_categorical_loss_wants_one_hot_labels():
    m = tiny_models.static_cnn(num_classes=UNITS)
    m.compile("adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True), trt=True)
    x, y = _data()
    with pytest.raises(ValueError, match="CategoricalCrossentropy takes one-hot labels.*to_categorical"):
        m.fit(x, y, verbose=0)


def test_check_data_false_skips_the_checks(model):
    x, y = _data()
    x[0, 0, 0, 0] = np.nan
    # Unchecked, the NaN is swallowed by the spiking neurons: a normal-looking loss.
    history = model.fit(x, y, epochs=1, batch_size=6, verbose=0, check_data=False)
    assert np.isfinite(history.history["loss"][0])
