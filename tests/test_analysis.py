"""keras_trt.analysis: operation counts against hand counts, a NumPy window count and
SpikingJelly 2.0's own counters; firing rates against the NumPy LIF reference."""

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import analysis, layers
from reference import lif_forward

T = 2


def _spikes(shape, rate=0.3, seed=0):
    return (np.random.default_rng(seed).random(shape) < rate).astype("float32")


def _folded_model(inner, shape):
    x = keras.Input((T,) + shape)
    return keras.Model(x, layers.TimeFolded(inner, name="layer")(x))


def _window_count(spikes, kernel, stride, padding):
    """SOPs / filters of a 2-D convolution by brute force: for every output position, the
    non-zero inputs inside its window (Keras 'same' pads (total // 2) before, the rest after)."""
    _, h, w, _ = spikes.shape
    counts = 0
    out = [(n - kernel) // stride + 1 if padding == "valid" else -(-n // stride) for n in (h, w)]
    before = [0, 0]
    if padding == "same":
        before = [max((o - 1) * stride + kernel - n, 0) // 2 for o, n in zip(out, (h, w))]
    for sample in spikes:
        for i in range(out[0]):
            for j in range(out[1]):
                r0, c0 = i * stride - before[0], j * stride - before[1]
                for r in range(r0, r0 + kernel):
                    for c in range(c0, c0 + kernel):
                        if 0 <= r < h and 0 <= c < w:
                            counts += int(np.count_nonzero(sample[r, c]))
    return counts


def test_dense_sops_are_spikes_times_units():
    x = np.zeros((3, T, 5), "float32")
    x[0, 0, [0, 3]] = 1  # 2 spikes
    x[1, 1, 4] = 1  # 1
    x[2, :, :] = 1  # 10
    model = _folded_model(keras.layers.Dense(7), (5,))
    row = analysis.profile(model, x).layer("layer")
    assert row["input"] == "spikes"
    assert row["sops"] == pytest.approx(13 * 7 / 3)
    assert row["macs"] == 0


@pytest.mark.parametrize(
    "padding, stride, spike, expected",
    [
        ("same", 1, (0, 0), 4),  # corner: the windows of the 2x2 outputs around it
        ("same", 1, (1, 1), 9),  # interior: all nine
        ("same", 2, (0, 0), 1),  # 'same' stride 2 on 4x4 pads only after: window rows {0,1,2}, {2,3,4}
        ("same", 2, (2, 2), 4),
        ("same", 2, (3, 3), 1),
        ("valid", 2, (2, 2), 4),  # on 5x5: windows {0,1,2}, {2,3,4}
        ("valid", 2, (0, 4), 1),
        ("valid", 1, (0, 0), 1),
    ],
)
def test_conv_sops_single_spike_hand_counts(padding, stride, spike, expected):
    size = 5 if padding == "valid" and stride == 2 else 4
    x = np.zeros((1, T, size, size, 2), "float32")
    x[0, 0, spike[0], spike[1], 1] = 1
    model = _folded_model(keras.layers.Conv2D(3, 3, strides=stride, padding=padding), (size, size, 2))
    assert analysis.profile(model, x).layer("layer")["sops"] == expected * 3


@pytest.mark.parametrize("padding, stride", [("same", 1), ("same", 2), ("valid", 1), ("valid", 2)])
def test_conv_sops_match_brute_force_and_macs_are_dense(padding, stride):
    x = _spikes((2, T, 7, 6, 3))
    model = _folded_model(keras.layers.Conv2D(4, 3, strides=stride, padding=padding), (7, 6, 3))
    report = analysis.profile(model, x)
    expected = _window_count(x.reshape(-1, 7, 6, 3), 3, stride, padding) * 4 / 2
    assert report.layer("layer")["sops"] == pytest.approx(expected)
    # The same layer on real values costs the dense count: T x out positions x filters x fan-in.
    real = x + 0.5
    row = analysis.profile(model, real).layer("layer")
    out_h, out_w = model.output.shape[2:4]
    assert (row["input"], row["sops"]) == ("real", 0)
    assert row["macs"] == T * out_h * out_w * 4 * 3 * 3 * 3
    assert analysis.dense_macs(model.get_layer("layer")) == row["macs"]


def test_sops_match_spikingjelly_synop_counter():
    torch = pytest.importorskip("torch")
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter

    from keras_trt.analysis import counting

    x = _spikes((3, 9, 8, 4), rate=0.4, seed=1)
    for stride, padding, torch_pad in [(1, "same", (1, 1, 1, 1)), (2, "valid", (0, 0, 0, 0)),
                                       (2, "same", (0, 1, 1, 1))]:  # 9x8 'same'/2: H 1+1, W 0+1
        layer = keras.layers.Conv2D(5, 3, strides=stride, padding=padding)
        layer.build((None, 9, 8, 4))
        conv = torch.nn.Conv2d(4, 5, 3, stride=stride)
        counter = SynOpCounter()
        inp = torch.nn.functional.pad(torch.tensor(x).permute(0, 3, 1, 2), torch_pad)
        with torch.no_grad(), DispatchCounterMode([counter]):
            conv(inp)
        assert counting.synaptic_ops(layer, x) == counter.get_total(), (stride, padding)
    dense = keras.layers.Dense(6)
    dense.build((None, 4))
    counter = SynOpCounter()
    with torch.no_grad(), DispatchCounterMode([counter]):
        torch.nn.Linear(4, 6, bias=False)(torch.tensor(x.reshape(-1, 4)))
    assert counting.synaptic_ops(dense, x.reshape(-1, 4)) == counter.get_total()


def test_pooling_and_residual_accumulates():
    s = keras.Input((T, 4, 4, 3))
    avg = layers.TimeFolded(keras.layers.AveragePooling2D(2), name="avg")(s)
    mx = layers.TimeFolded(keras.layers.MaxPooling2D(2), name="max")(s)
    gap = layers.TimeFolded(keras.layers.GlobalAveragePooling2D(), name="gap")(s)
    add = keras.layers.Add(name="add")([s, s])
    model = keras.Model(s, [avg, mx, gap, add])
    x = _spikes((2, T, 4, 4, 3), seed=3)
    report = analysis.profile(model, x)
    # SpikingJelly's ACCounter: avg_pool2d out.numel() * (k - 1); mean in - out; add of two
    # spike tensors nnz + nnz. Per sample.
    assert report.layer("avg")["acs"] == T * 2 * 2 * 3 * 3
    assert report.layer("max")["acs"] == 0
    assert report.layer("gap")["acs"] == T * (4 * 4 * 3 - 3)
    assert report.layer("add")["acs"] == pytest.approx(2 * np.count_nonzero(x) / 2)
    assert report.totals["energy_pj"] == pytest.approx(0.9 * report.totals["acs"])


def test_network_totals_firing_rates_and_energy():
    """Stem on pixels (MACs x T), spike-fed conv (SOPs), classifier on rates (MACs once)."""
    x_in = keras.Input((6, 6, 1))
    h = layers.RepeatTime(T)(x_in)
    h = layers.TimeFolded(keras.layers.Conv2D(4, 3, padding="same", use_bias=False), name="stem")(h)
    h = layers.LIF(name="lif1")(h)
    h = layers.TimeFolded(keras.layers.Conv2D(5, 3, strides=2, padding="same"), name="conv")(h)
    h = layers.LIF(name="lif2")(h)
    h = layers.TimeFolded(keras.layers.GlobalAveragePooling2D(), name="gap")(h)
    h = layers.StarProduct(name="star")(h)
    model = keras_trt.TRTModel(x_in, keras.layers.Dense(3, name="classifier")(h))
    model.get_layer("stem").layer.set_weights([np.full((3, 3, 1, 4), 0.4, "float32")])
    # Some but not all of lif2 fires, so the classifier's input (rates) is real-valued.
    model.get_layer("conv").layer.set_weights(
        [np.random.default_rng(1).normal(0.2, 0.5, (3, 3, 4, 5)).astype("float32"), np.zeros(5, "float32")])
    x = np.random.default_rng(0).random((5, 6, 6, 1)).astype("float32") * 2
    report = analysis.profile(model, x, batch_size=2)

    stem = keras.ops.convert_to_numpy(model.get_layer("stem").layer(x))  # [B, 6, 6, 4]
    s1 = lif_forward(np.repeat(stem[:, None], T, axis=1))["spikes"]
    assert report.layer("stem")["macs"] == T * 6 * 6 * 4 * 9
    assert report.layer("lif1")["firing_rate"] == pytest.approx(s1.mean())
    assert report.layer("conv")["sops"] == pytest.approx(
        _window_count(s1.reshape(-1, 6, 6, 4), 3, 2, "same") * 5 / 5)  # 5 filters, 5 samples
    assert report.layer("classifier")["macs"] == 5 * 3
    assert report.layer("gap")["acs"] == T * (3 * 3 * 5 - 5)
    assert report.layer("star")["acs"] == 5 * (T - 1)
    t = report.totals
    assert t["macs"] == T * 6 * 6 * 4 * 9 + 15
    assert t["energy_pj"] == pytest.approx(4.6 * t["macs"] + 0.9 * (t["sops"] + t["acs"]))
    assert (t["samples"], t["timesteps"]) == (5, T)
    table = report.to_markdown()
    assert "| stem | Conv2D | real |" in table and "**total**" in table


def test_hoisted_stem_counts_once(tmp_path):
    model = keras_trt.models.build("spiking_cnn", input_shape=(8, 8, 1), num_classes=3, timesteps=4)
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    before = analysis.profile(model, x).layer("conv0")["macs"]
    keras_trt.temporal.hoist_static_layers(model)
    assert analysis.profile(model, x).layer("conv0")["macs"] * 4 == before == 4 * 8 * 8 * 16 * 9
    path = analysis.profile(model, x).plot(str(tmp_path / "profile.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_models_are_refused():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="functional"):
        analysis.profile(Subclassed(), np.zeros((1, 2), "float32"))
    x = keras.Input((T, 5, 5, 2))
    model = keras.Model(x, layers.TimeFolded(keras.layers.DepthwiseConv2D(3))(x))
    with pytest.raises(ValueError, match="depthwise"):
        analysis.profile(model, np.zeros((1, T, 5, 5, 2), "float32"))


def test_firing_rate_logger_records_each_epoch():
    model = keras_trt.models.build("smlp", input_shape=(6, 3), num_classes=2, hidden=(8,))
    model.compile("sgd", trt=keras_trt.TRTConfig())
    x = np.random.default_rng(0).random((8, 6, 3)).astype("float32") * 3
    y = np.arange(8) % 2
    logger = analysis.FiringRateLogger(x)
    history = model.fit(x, y, epochs=2, batch_size=4, callbacks=[logger], verbose=0)
    assert history.history["firing_rate/sn1"] == logger.history["sn1"]
    assert len(logger.history["sn1"]) == 2
    assert logger.history["sn1"][-1] == pytest.approx(analysis.profile(model, x).layer("sn1")["firing_rate"])
