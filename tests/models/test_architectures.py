"""Every registered architecture, at its registry's small size, on the current backend.

Parametrized over ``keras_trt.models.list_architectures()``: an architecture is tested the
moment it is registered (its registry entry's ``small`` kwargs give the test size). Per
architecture: the forward pass, the TRT structure (one reversal at the default point, star
product, classifier), one TRT training step, the ``.keras`` round trip, and a reload under each
of the two other backends with equal logits.

Speed: all models are built and saved first; the other backends then load all of them in one
subprocess each, running in the background while this process tests them. On TensorFlow and
torch the train step and the logits run eagerly (compiling a ResNet-34 TRT step costs ~10 s on
a small CPU; the compiled step is tested in tests/test_trt_step.py and tests/test_trt_model.py).
On JAX, whose eager ops compile one by one (a first eager TRT step of the small QKFormer took
69 s here, its jit-compiled step 15 s), both are compiled.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_trt
from arch_helpers import (
    BATCH, CLASSES, SAME_SMALL_INSTANCE, activate, inputs_for, numpy_initializers, predict, small_model,
    architectures_under_test,
)
from backend_utils import ALL_BACKENDS, BACKEND
from keras_trt import layers as trt_layers
from keras_trt import models

ARCHS = architectures_under_test()
OTHER_BACKENDS = [b for b in ALL_BACKENDS if b != BACKEND]
TRT_LOGS = {"loss", "task_loss", "reversed_loss", "consistency_loss", "star_loss"}
LOADER = os.path.join(os.path.dirname(__file__), "_load_models_and_predict.py")


JAX = keras.backend.backend() == "jax"


def _logits(model, x):
    """Inference logits: compiled on JAX (see the module's docstring), a direct call elsewhere."""
    return np.asarray(model.predict_on_batch(x)) if JAX else predict(model, x)


class _Failed:
    def __init__(self, error):
        self.error = error


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Builds every architecture (activated, TRT-compiled), saves it, and starts the loaders.

    Returns ``{name: record or _Failed}`` plus the background processes under ``"_loaders"``.
    """
    root = str(tmp_path_factory.mktemp("architectures"))
    records, manifest = {}, {}
    for name in ARCHS:
        try:
            model = small_model(name)
            activate(model)
            model.compile(keras.optimizers.SGD(0.05), trt=keras_trt.TRTConfig(), run_eagerly=not JAX)
            x = inputs_for(model)
            path, x_path = os.path.join(root, f"{name}.keras"), os.path.join(root, f"{name}.npy")
            model.save(path)
            np.save(x_path, x)
            records[name] = dict(model=model, x=x, root=root)
            manifest[name] = {"model": path, "inputs": x_path}
        except Exception as e:  # reported by each test of this architecture
            records[name] = _Failed(e)
    manifest_path = os.path.join(root, "manifest.json")
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    loaders = {}
    for other in OTHER_BACKENDS:
        # The loaders run beside this process: one thread each, at a lower priority.
        env = dict(
            os.environ, KERAS_BACKEND=other, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
            TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
        )
        if other == "jax":  # compile speed only (eager JAX compiles every op); logits are compared
            env["XLA_FLAGS"] = (
                env.get("XLA_FLAGS", "")
                + " --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
                + " --xla_cpu_multi_thread_eigen=false"
            )
        out, log = os.path.join(root, f"{other}.npz"), os.path.join(root, f"{other}.log")
        with open(log, "w") as log_file:  # a file, not a pipe: nothing blocks on a full buffer
            proc = subprocess.Popen(
                [sys.executable, LOADER, manifest_path, out],
                env=env, stdout=log_file, stderr=subprocess.STDOUT,
            )
        loaders[other] = (proc, out, log)
    records["_loaders"] = loaders
    yield records
    for proc, _, _ in loaders.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _record(saved, name):
    record = saved[name]
    if isinstance(record, _Failed):
        raise record.error
    return record


@pytest.fixture(scope="module")
def ran(saved):
    """Lazily, per architecture: the logits of the saved model, then one TRT training step."""
    cache = {}

    def get(name):
        if name not in cache:
            try:
                record = _record(saved, name)
                model, x = record["model"], record["x"]
                logits_before = _logits(model, x)
                before = {v.path: np.array(v) for v in model.trainable_variables}
                logs = model.train_on_batch(x, np.arange(BATCH) % CLASSES, return_dict=True)
                after = {v.path: np.array(v) for v in model.trainable_variables}
                cache[name] = dict(record, logits_before=logits_before, logs=logs, before=before, after=after)
            except Exception as e:
                cache[name] = _Failed(e)
        if isinstance(cache[name], _Failed):
            raise cache[name].error
        return cache[name]

    return get


@pytest.fixture(scope="module")
def reloaded(saved):
    """``{backend: {name: logits or name + ':error': traceback}}`` from the background loaders."""
    results = {}
    for other, (proc, out, log) in saved["_loaders"].items():
        proc.wait(timeout=900)
        if proc.returncode != 0:
            with open(log) as f:
                results[other] = RuntimeError(f"loader under {other} failed:\n{f.read()[-3000:]}")
            continue
        with np.load(out) as data:
            results[other] = {k: data[k] for k in data.files}
    return results


@pytest.mark.backend_independent
def test_registry_lists_the_families():
    assert {"sresnet18", "sresnet34", "sresnet19", "sresnet20", "sew_resnet34", "svgg11", "vggsnn",
            "spointnet", "spiking_cnn"} <= set(ARCHS)


@pytest.mark.backend_independent
@pytest.mark.parametrize("name, same_as", sorted(SAME_SMALL_INSTANCE.items()))
def test_same_small_instance(name, same_as):
    """The configurations left out of the per-architecture tests build the network they stand for."""

    def config(arch):
        keras.backend.clear_session()  # the same automatic layer names in both builds
        return json.dumps(small_model(arch).get_config(), sort_keys=True, default=str).replace(arch, "<name>")

    assert name in models.list_architectures() and same_as in ARCHS
    assert config(name) == config(same_as)


@pytest.mark.parametrize("name", ARCHS)
def test_forward(name, ran):
    record = ran(name)
    assert isinstance(record["model"], keras_trt.TRTModel)
    logits = record["logits_before"]
    assert logits.shape == (BATCH, CLASSES)
    assert np.all(np.isfinite(logits))
    # The test network is active: samples get different logits (not just the classifier bias).
    assert np.std(logits, axis=0).max() > 1e-3, "no spikes reach the classifier"


@pytest.mark.parametrize("name", ARCHS)
def test_structure(name, saved):
    model = _record(saved, name)["model"]
    flat = list(model._flatten_layers())
    assert sum(isinstance(l, trt_layers.TemporalReversal) for l in flat) == 1
    assert sum(isinstance(l, trt_layers.StarProduct) for l in flat) == 1
    classifier = model.get_layer("classifier")
    assert isinstance(classifier, keras.layers.Dense) and model.layers[-1] is classifier
    feeding = classifier._inbound_nodes[0].parent_nodes[0].operation
    assert isinstance(feeding, trt_layers.StarProduct)


@pytest.mark.parametrize("name", ARCHS)
def test_default_reversal_point(name, saved):
    """Static inputs: the reversal follows the stem's neuron (or the stem's max-pool; for the
    transformers, the patch stem), so the stem runs once per sample under TRT. Temporal inputs:
    the reversal takes the input."""
    model = _record(saved, name)["model"]
    reversal = next(l for l in model.layers if isinstance(l, trt_layers.TemporalReversal))
    if not any(isinstance(l, trt_layers.RepeatTime) for l in model.layers):
        parents = reversal._inbound_nodes[0].parent_nodes
        assert [type(n.operation) for n in parents] == [keras.layers.InputLayer]
        return
    upstream, stack = set(), [reversal]
    while stack:
        for node in stack.pop()._inbound_nodes:
            for parent in node.parent_nodes:
                if parent.operation.name not in upstream:
                    upstream.add(parent.operation.name)
                    stack.append(parent.operation)
    neurons = [
        l.name for l in model.layers
        if l.name in upstream and isinstance(l, (trt_layers.LIF, trt_layers.ParametricLIF))
        and not l.name.startswith("stn_")  # PointNet's input transform runs on the input
    ]
    if any(l.name.startswith("patch_embed") for l in model.layers):
        # Transformers: the reversal follows the whole patch stem (several spiking layers).
        parent = reversal._inbound_nodes[0].parent_nodes[0].operation.name
        assert parent in ("patch_embed_tokens", "patch_embed1_tokens"), parent
        assert neurons and all(n.startswith("patch_embed") for n in neurons), neurons
        return
    assert len(neurons) == 1, f"neurons before the reversal: {neurons}"


@pytest.mark.parametrize("name", ARCHS)
def test_trt_train_step(name, ran):
    record = ran(name)
    logs = record["logs"]
    assert TRT_LOGS <= set(logs), logs
    assert all(np.isfinite(logs[k]) for k in TRT_LOGS), logs
    before, after = record["before"], record["after"]
    unchanged = [p for p in before if np.array_equal(before[p], after[p])]
    # Every kernel learns. BatchNorm scales/offsets near the input of the deepest classic
    # spiking ResNets can get updates below float32 resolution at init (vanishing surrogate
    # gradients), so they are exempt.
    assert all(p.endswith(("/gamma", "/beta")) for p in unchanged), unchanged
    assert len(unchanged) < len(before) / 2, unchanged


@pytest.mark.parametrize("name", ARCHS)
def test_keras_round_trip(name, ran):
    record = ran(name)
    with numpy_initializers():  # the loaded values replace them
        loaded = keras.saving.load_model(os.path.join(record["root"], f"{name}.keras"))
    assert isinstance(loaded, keras_trt.TRTModel)
    assert loaded.trt_config == keras_trt.TRTConfig()
    assert [l.name for l in loaded.layers] == [l.name for l in record["model"].layers]
    np.testing.assert_allclose(_logits(loaded, record["x"]), record["logits_before"], atol=1e-6)


@pytest.mark.parametrize("other", OTHER_BACKENDS)
@pytest.mark.parametrize("name", ARCHS)
def test_loads_under_other_backend(name, other, ran, reloaded):
    expected = ran(name)["logits_before"]  # the saved (untrained, activated) model's logits
    result = reloaded[other]
    if isinstance(result, Exception):
        raise result
    if name + ":error" in result:
        pytest.fail(f"{name} failed to load or predict under {other}:\n{result[name + ':error']}")
    np.testing.assert_allclose(result[name], expected, atol=1e-5, err_msg=f"loaded under {other}")
