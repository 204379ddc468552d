"""Export: NIR graphs that SpikingJelly 2.0's importer runs to our logits, and ONNX through Keras'
own ``model.export`` run by onnxruntime, on every backend."""

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import analysis, layers
from keras_trt.export import NIRExportError, to_nir

T = 3


def _zoo(name):
    model = keras_trt.zoo.load(name)
    # A loaded preset comes compiled with jit_compile on; on torch that is a torch.compile of
    # the whole model at the first predict (minutes on a small CPU). The values are the same.
    model.jit_compile = False
    return model


def _randomize_batch_norm(model, seed=0):
    """Non-trivial BN statistics and affine parameters, so that folding them is tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            shape = inner.gamma.shape
            inner.set_weights([
                rng.uniform(0.8, 1.6, shape), rng.uniform(-0.1, 0.4, shape),
                rng.normal(0.0, 0.2, shape), rng.uniform(0.5, 1.5, shape),
            ])
    return model


def _every_layer_model():
    """Every layer to_nir supports: padding folded into a stride-2 conv, BN after conv and
    Dense, LIF and PLIF, a residual Add, average pooling, Flatten, Dropout, the TRT layers."""
    keras.utils.set_random_seed(0)
    x = keras.Input((9, 9, 2))
    h = layers.RepeatTime(T)(x)
    h = layers.TimeFolded(keras.layers.ZeroPadding2D(1), name="pad")(h)
    h = layers.TimeFolded(keras.layers.Conv2D(6, 3, strides=2, use_bias=False), name="conv1")(h)
    h = layers.TimeFolded(keras.layers.BatchNormalization(), name="bn1")(h)
    s = layers.LIF(tau=2.0, name="lif1")(h)
    s = layers.TemporalReversal(name="reversal")(s)
    h = layers.TimeFolded(keras.layers.Conv2D(6, 3, padding="same"), name="conv2")(s)
    h = layers.TimeFolded(keras.layers.BatchNormalization(), name="bn2")(h)
    h = keras.layers.Add(name="add")([h, s])  # spiking-ResNet shortcut: an edge into the neuron
    h = layers.ParametricLIF(init_tau=3.0, decay_input=False, name="plif2")(h)
    h = layers.TimeFolded(keras.layers.AveragePooling2D(2), name="avg")(h)  # 5x5 -> 2x2
    h = layers.TimeFolded(keras.layers.Flatten(), name="flatten")(h)
    h = layers.TimeFolded(keras.layers.Dense(12), name="fc")(h)
    h = layers.TimeFolded(keras.layers.BatchNormalization(), name="bn3")(h)
    h = layers.TimeFolded(keras.layers.Dropout(0.2), name="drop")(h)
    h = layers.LIF(tau=1.5, v_threshold=0.3, v_reset=-0.1, name="lif3")(h)
    h = layers.StarProduct(name="star")(h)
    out = keras.layers.Dense(5, name="classifier")(h)
    return _randomize_batch_norm(keras_trt.TRTModel(x, out))


def _run_in_spikingjelly(graph, x, timesteps, static, tmp_path):
    """Writes and reads the graph, imports it into SpikingJelly and runs it step by step;
    returns the mean over the steps of its outputs (the model's logits)."""
    torch = pytest.importorskip("torch")
    nir = pytest.importorskip("nir")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    path = str(tmp_path / "model.nir")
    nir.write(path, graph)
    module = import_from_nir(nir.read(path), dt=1e-4)
    state, outputs = None, []
    with torch.no_grad():
        for t in range(timesteps):
            step = x if static else x[:, t]
            if step.ndim == 4:
                step = np.moveaxis(step, -1, 1)  # NIR is channel-first
            out, state = module(torch.tensor(np.ascontiguousarray(step)), state)
            outputs.append(out.numpy())
    return np.mean(outputs, axis=0)


def _assert_spiking(model, x):
    rates = analysis.firing_rates(model, x)
    assert min(rates.values()) > 0.01, rates  # a silent layer would make the comparison vacuous


def test_nir_every_supported_layer_reproduced_by_spikingjelly(tmp_path):
    pytest.importorskip("spikingjelly")
    model = _every_layer_model()
    x = np.random.default_rng(1).random((6, 9, 9, 2)).astype("float32") * 2
    _assert_spiking(model, x)
    graph = to_nir(model, dt=1e-4)
    assert {"input", "output", "conv1", "lif1", "conv2", "plif2", "avg", "flatten", "fc", "lif3",
            "classifier"} == set(graph.nodes)
    assert ("conv2", "plif2") in graph.edges and ("lif1", "plif2") in graph.edges  # the Add
    assert graph.nodes["conv1"].padding == (1, 1) and graph.nodes["conv1"].weight.shape == (6, 2, 3, 3)
    np.testing.assert_allclose(graph.nodes["lif3"].tau, 1.5e-4, rtol=1e-6)
    assert float(graph.nodes["plif2"].r.flat[0]) == pytest.approx(3.0, rel=1e-6)  # decay_input=False
    logits = _run_in_spikingjelly(graph, x, T, True, tmp_path)
    np.testing.assert_allclose(logits, model.predict(x, verbose=0), atol=1e-5)


def test_nir_sew_resnet_and_temporal_mlp(tmp_path):
    pytest.importorskip("spikingjelly")
    keras.utils.set_random_seed(0)
    sew = keras_trt.models.spiking_resnet(
        (1, 1), (6, 8), block="sew", stem="cifar", input_shape=(8, 8, 1), num_classes=4,
        timesteps=2, v_threshold=0.5)
    _randomize_batch_norm(sew, seed=2)
    x = np.random.default_rng(2).random((4, 8, 8, 1)).astype("float32") * 3
    _assert_spiking(sew, x)
    logits = _run_in_spikingjelly(to_nir(sew), x, 2, True, tmp_path)
    np.testing.assert_allclose(logits, sew.predict(x, verbose=0), atol=1e-5)

    mlp = _randomize_batch_norm(keras_trt.models.build("smlp", input_shape=(T, 5), num_classes=3, hidden=(7,)))
    x = np.random.default_rng(3).random((5, T, 5)).astype("float32") * 3
    logits = _run_in_spikingjelly(to_nir(mlp), x, T, False, tmp_path)
    np.testing.assert_allclose(logits, mlp.predict(x, verbose=0), atol=1e-5)


def test_nir_zoo_resnet_reproduced_by_spikingjelly(tmp_path):
    pytest.importorskip("spikingjelly")
    model = _zoo("sresnet20-mnist-t2")
    x = np.random.default_rng(4).random((3, 28, 28, 1)).astype("float32")
    graph = to_nir(model)
    logits = _run_in_spikingjelly(graph, x, 2, True, tmp_path)
    np.testing.assert_allclose(logits, model.predict(x, verbose=0), atol=1e-5)


def _tiny(body, shape=(8, 8, 1)):
    x = keras.Input(shape)
    h = body(layers.RepeatTime(2)(x))
    h = layers.StarProduct()(layers.TimeFolded(keras.layers.GlobalAveragePooling2D())(h))
    return keras.Model(x, keras.layers.Dense(2)(h))


@pytest.mark.parametrize(
    "body, message",
    [
        (lambda h: layers.LIF(v_reset=None)(layers.TimeFolded(keras.layers.Conv2D(3, 3))(h)), "soft"),
        (lambda h: layers.TimeFolded(keras.layers.MaxPooling2D())(
            layers.LIF()(layers.TimeFolded(keras.layers.Conv2D(3, 3))(h))), "max-pooling"),
        (lambda h: layers.LIF()(layers.TimeFolded(keras.layers.Conv2D(3, 3, strides=2, padding="same"))(h)),
         "asymmetric"),
        (lambda h: keras.layers.Multiply()([h, h]), "product"),
    ],
)
def test_nir_refuses_what_it_cannot_express(body, message):
    with pytest.raises(NIRExportError, match=message):
        to_nir(_tiny(body))


def _onnx_roundtrip(model, x, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = str(tmp_path / "model.onnx")
    model.export(path, format="onnx", verbose=False)
    session = ort.InferenceSession(path)
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    return out


def test_onnx_export_equals_predict(tmp_path):
    pytest.importorskip("onnx")
    keras.utils.set_random_seed(0)
    model = _randomize_batch_norm(keras_trt.models.spiking_cnn(
        (8, 8, 1), 4, timesteps=2, widths=(4, 6), neuron="plif", v_threshold=0.5))
    x = np.random.default_rng(5).random((3, 8, 8, 1)).astype("float32") * 2
    _assert_spiking(model, x)
    np.testing.assert_allclose(_onnx_roundtrip(model, x, tmp_path), model.predict(x, verbose=0), atol=1e-5)
    zoo = _zoo("smlp-basicmotions-t20")  # loaded, never called: Keras alone refuses
    x = np.random.default_rng(6).normal(size=(2, 20, 6)).astype("float32")
    np.testing.assert_allclose(_onnx_roundtrip(zoo, x, tmp_path), zoo.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_onnx_export_of_max_pooling_equals_predict(padding, tmp_path):
    # On JAX, jax2onnx writes max-pooling as a 4-D-window MaxPool that onnxruntime cannot run;
    # TRTModel.export rewrites it (keras_trt.export.onnx_graph). TF and torch export it as it is.
    pytest.importorskip("onnx")
    if padding == "same" and keras.backend.backend() == "torch":
        pytest.skip("Keras' torch max-pooling computes 'same' padding from traced sizes, which "
                    "torch.onnx refuses; keras-trt's models pad explicitly (MaxPoolPadding2D).")
    keras.utils.set_random_seed(1)
    x_in = keras.Input((9, 9, 2))
    h = layers.RepeatTime(2)(x_in)
    h = layers.LIF(v_threshold=0.5)(layers.TimeFolded(keras.layers.Conv2D(4, 3, padding="same"))(h))
    h = layers.TimeFolded(keras.layers.MaxPooling2D(3, strides=2, padding=padding))(h)  # 9 -> 4 or 5
    h = layers.LIF(v_threshold=0.5)(layers.TimeFolded(keras.layers.Conv2D(4, 3, padding="same"))(h))
    h = layers.TimeFolded(keras.layers.MaxPooling2D(2))(h)  # 5 -> 2, valid
    h = layers.StarProduct()(layers.TimeFolded(keras.layers.Flatten())(h))
    model = keras_trt.TRTModel(x_in, keras.layers.Dense(3)(h))
    x = np.random.default_rng(8).normal(size=(3, 9, 9, 2)).astype("float32")
    _assert_spiking(model, x)
    expected = model.predict(x, verbose=0)
    assert np.std(expected, axis=0).max() > 1e-3
    np.testing.assert_allclose(_onnx_roundtrip(model, x, tmp_path), expected, atol=1e-5)


def test_gradient_free_lif_gives_the_same_spikes():
    x = np.random.default_rng(7).random((2, 5, 7)).astype("float32") * 2
    for lif in (layers.LIF(tau=2.0, detach_reset=True), layers.LIF(v_reset=-0.2, decay_input=False)):
        with keras_trt.neurons.gradient_free():
            free = keras.ops.convert_to_numpy(lif(x))
        np.testing.assert_array_equal(free, keras.ops.convert_to_numpy(lif(x)))
