"""keras_trt.export.load_torch_resnet against SpikingJelly 2.0.0's own ResNets, and its errors.

The reference networks are SpikingJelly's ``spiking_resnet`` and ``sew_resnet`` model files
themselves. SpikingJelly imports torchvision in those files only for
``load_state_dict_from_url`` (pretrained downloads), and the torchvision wheel next to the pinned
CPU torch fails to import; the import is therefore done with torchvision shadowed by a stub
(downloads raise), restored right after.

Random weights, BatchNorm running statistics randomised so that they matter, eval mode, float32,
the same static image repeated over T: the logits must agree to 1e-4.
"""

import contextlib
import sys
import types

import keras
import numpy as np
import pytest

from arch_helpers import build, to_numpy
from keras_trt.export import (
    ImportReport,
    load_torch_resnet,
    read_state_dict,
    torch_resnet_key_map,
    torch_resnet_state_dict,
)

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402

T, B = 2, 2


@contextlib.contextmanager
def _torchvision_stub():
    names = ("torchvision", "torchvision.models", "torchvision.models.utils")
    saved = {name: sys.modules.get(name) for name in names}
    tv, tv_models, tv_utils = (types.ModuleType(name) for name in names)

    def load_state_dict_from_url(*args, **kwargs):
        raise RuntimeError("no downloads in the tests")

    tv_utils.load_state_dict_from_url = load_state_dict_from_url
    tv.models, tv_models.utils = tv_models, tv_utils
    sys.modules.update(zip(names, (tv, tv_models, tv_utils)))
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _sj_models():
    try:
        from spikingjelly.activation_based.model import sew_resnet, spiking_resnet
    except (ImportError, RuntimeError):  # torchvision is broken next to the CPU torch
        with _torchvision_stub():
            from spikingjelly.activation_based.model import sew_resnet, spiking_resnet
    return spiking_resnet, sew_resnet


def _randomize(net, generator):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.uniform_(0.2, 1.2, generator=generator)
                m.running_mean.normal_(0.0, 0.1, generator=generator)
                m.running_var.uniform_(0.2, 0.6, generator=generator)
            if isinstance(m, neuron.ParametricLIFNode):
                m.w.normal_(0.0, 0.5, generator=generator)


# (SpikingJelly builder, cnf, stem, neuron, input size, ours). Together they cover both block
# types, ADD and IAND, both stems (odd feature-map sizes at 36x36), LIF and PLIF, depth 18 and 34.
CASES = {
    "spiking_resnet18-imagenet-lif": ("spiking_resnet18", None, "imagenet", "lif", 36, "sresnet18"),
    "sew_resnet18-add-imagenet-plif": ("sew_resnet18", "ADD", "imagenet", "plif", 36, "sew_resnet18"),
    "sew_resnet34-iand-cifar-lif": ("sew_resnet34", "IAND", "cifar", "lif", 16, "sew_resnet34_cifar"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_spikingjelly_resnet_logits_match(case):
    sj_name, cnf, stem, kind, size, ours = CASES[case]
    spiking_resnet, sew_resnet = _sj_models()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    neuron_kwargs = (
        dict(spiking_neuron=neuron.ParametricLIFNode, init_tau=2.0)
        if kind == "plif"
        else dict(spiking_neuron=neuron.LIFNode, tau=2.0)
    )
    module = sew_resnet if cnf else spiking_resnet
    extra = dict(cnf=cnf) if cnf else {}
    net = getattr(module, sj_name)(
        num_classes=10, detach_reset=True, surrogate_function=surrogate.ATan(), **extra, **neuron_kwargs
    )
    if stem == "cifar":  # the usual CIFAR adaptation of SpikingJelly's ImageNet ResNets
        net.conv1 = layer.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = torch.nn.Identity()
    _randomize(net, generator)
    functional.set_step_mode(net, "m")
    net.eval()
    x = torch.randn(B, 3, size, size, generator=generator) * torch.arange(1.0, B + 1).view(B, 1, 1, 1)
    with torch.no_grad():
        functional.reset_net(net)
        expected = net(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).mean(0).numpy()  # [T, B, K] -> [B, K]

    model = build(
        ours, num_classes=10, timesteps=T, input_shape=(size, size, 3), neuron=kind,
        **({"sew_function": cnf.lower()} if cnf else {}),
    )
    report = load_torch_resnet(model, net.state_dict())
    assert not report.missing and not report.unexpected and not report.skipped
    assert len(report.loaded) == len(torch_resnet_key_map(model))
    logits = to_numpy(model(x.numpy().transpose(0, 2, 3, 1), training=False))
    assert np.std(expected, axis=0).max() > 1e-3, "the reference network is silent"
    np.testing.assert_allclose(logits, expected, atol=1e-4)

    # And back: our state dict loads into the SpikingJelly network and gives the same logits.
    state = {k: torch.from_numpy(v) for k, v in torch_resnet_state_dict(model).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)


# --- the importer's API and errors, on small models and state dicts made from them ---------------


def _small(name="sresnet18_cifar", seed=0, **kwargs):
    kwargs = {"num_classes": 5, "timesteps": 2, "input_shape": (16, 16, 3), "width_multiplier": 0.125, **kwargs}
    return build(name, seed=seed, **kwargs)


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_round_trip_between_two_models_and_file_formats(tmp_path):
    source, target = _small(seed=1), _small(seed=2)
    state = torch_resnet_state_dict(source)
    assert "layer2.0.downsample.0.weight" in state and "fc.weight" in state
    assert state["conv1.weight"].shape == (8, 3, 3, 3)  # [out, in, kh, kw]
    # A training checkpoint saved with torch.save, DataParallel prefixes and num_batches_tracked.
    wrapped = {"epoch": 3, "model": {f"module.{k}": torch.from_numpy(v) for k, v in state.items()}}
    wrapped["model"]["module.bn1.num_batches_tracked"] = torch.tensor(7)
    torch.save(wrapped, tmp_path / "checkpoint.pth")
    report = load_torch_resnet(target, tmp_path / "checkpoint.pth")
    assert isinstance(report, ImportReport) and len(report.loaded) == len(state)
    for a, b in zip(_weights(source), _weights(target)):
        np.testing.assert_array_equal(a, b)
    assert "loaded=" in str(report)


@pytest.mark.backend_independent
def test_missing_and_unexpected_keys_name_the_keys():
    model = _small()
    state = torch_resnet_state_dict(model)
    del state["layer1.0.bn2.running_var"]
    state["layer1.0.conv3.weight"] = np.zeros((4, 4, 1, 1), "float32")
    with pytest.raises(KeyError, match=r"layer1\.0\.bn2\.running_var(.|\n)*layer1\.0\.conv3\.weight(.|\n)*Bottleneck"):
        load_torch_resnet(model, state)
    report = load_torch_resnet(model, state, strict=False)
    assert report.missing == ["layer1.0.bn2.running_var"]
    assert report.unexpected == ["layer1.0.conv3.weight"]


@pytest.mark.backend_independent
def test_depth_mismatch_hint():
    state = torch_resnet_state_dict(_small("sresnet18_cifar"))
    with pytest.raises(KeyError, match=r"\[2, 2, 2, 2\] blocks per stage, the model \[3, 4, 6, 3\]"):
        load_torch_resnet(_small("sresnet34_cifar"), state)


@pytest.mark.backend_independent
def test_neuron_type_hint():
    state = torch_resnet_state_dict(_small(neuron="plif"))
    assert "layer1.0.sn1.w" in state
    with pytest.raises(KeyError, match="neuron='plif'"):
        load_torch_resnet(_small(), state)


@pytest.mark.backend_independent
def test_shape_errors_name_the_key_and_fix_and_write_nothing():
    model = _small()
    before = _weights(model)
    imagenet_stem = torch_resnet_state_dict(_small("sresnet18", input_shape=(32, 32, 3)))
    with pytest.raises(ValueError, match=r"'conv1\.weight'(.|\n)*7x7(.|\n)*stem='imagenet'"):
        load_torch_resnet(model, imagenet_stem)
    wider = torch_resnet_state_dict(_small(width_multiplier=0.25))
    with pytest.raises(ValueError, match="width_multiplier"):
        load_torch_resnet(model, wider)
    for a, b in zip(before, _weights(model)):  # nothing half-written
        np.testing.assert_array_equal(a, b)


def test_num_classes_mismatch_and_skip_classifier():
    source, target = _small(num_classes=7, seed=1), _small(num_classes=5, seed=2)
    state = torch_resnet_state_dict(source)
    with pytest.raises(ValueError, match=r"'fc\.weight'(.|\n)*7 classes(.|\n)*skip_classifier=True"):
        load_torch_resnet(target, state)
    classifier = [np.array(w) for w in target.get_layer("classifier").get_weights()]
    report = load_torch_resnet(target, state, skip_classifier=True)
    assert report.skipped == ["fc.bias", "fc.weight"] and not report.unexpected
    for a, b in zip(classifier, target.get_layer("classifier").get_weights()):
        np.testing.assert_array_equal(a, np.array(b))
    np.testing.assert_array_equal(
        np.array(source.get_layer("layer4_1_conv2").layer.kernel),
        np.array(target.get_layer("layer4_1_conv2").layer.kernel),
    )


@pytest.mark.backend_independent
def test_resnet19_head_maps_to_fc1_fc2():
    mapping = torch_resnet_key_map(_small("sresnet19"))
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"} <= set(mapping)
    assert "fc.weight" not in mapping


@pytest.mark.backend_independent
def test_bad_inputs():
    with pytest.raises(ValueError, match="not a ResNet"):
        torch_resnet_key_map(_small("spiking_cnn", input_shape=(8, 8, 1), width_multiplier=1.0))
    with pytest.raises(TypeError, match="state dict"):
        read_state_dict([1, 2, 3])
    with pytest.raises(ValueError, match="no tensors"):
        read_state_dict({"epoch": 3, "config": {"lr": 0.1}})
    assert set(read_state_dict({"state_dict": {"a": np.zeros(2)}})) == {"a"}
