"""Small edge cases: integer inputs to the neurons, empty batches, empty event files."""

import keras
import numpy as np
import pytest

import reference as ref
import tiny_models
from backend_utils import BACKEND, to_numpy
from keras_trt.data import events
from keras_trt.layers import LIF, ParametricLIF


@pytest.mark.parametrize("layer", [LIF, ParametricLIF])
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_integer_inputs_are_cast_to_the_compute_dtype(layer, dtype):
    counts = np.random.default_rng(0).integers(0, 3, (2, 5, 7)).astype(dtype)
    spikes = layer()(keras.ops.convert_to_tensor(counts))
    assert keras.backend.standardize_dtype(spikes.dtype) == "float32"
    want = ref.lif_forward(counts.astype("float64"), tau=2.0)["spikes"]  # init_tau=2: same leak
    np.testing.assert_array_equal(to_numpy(spikes), want)


def test_predict_on_an_empty_batch_gives_an_empty_result():
    model = tiny_models.static_cnn(num_classes=5)
    out = model.predict(np.zeros((0, 8, 8, 1), "float32"), verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (0, 5) and out.dtype == np.float32
    assert model.predict(np.zeros((2, 8, 8, 1), "float32"), verbose=0).shape == (2, 5)


@pytest.mark.skipif(BACKEND != "jax", reason="file parsing, backend-independent")
def test_read_aedat2_refuses_an_empty_file(tmp_path):
    path = tmp_path / "cifar10_airplane_0.aedat"
    path.write_bytes(b"")
    with pytest.raises(events.DataFormatError, match="empty \\(0 bytes\\).*Download or extract it again"):
        events.read_aedat2(path)
