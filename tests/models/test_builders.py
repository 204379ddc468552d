"""The builders at full size (parameter counts), their options, their errors, the registry API."""

import keras
import numpy as np
import pytest

import keras_trt
from arch_helpers import build, inputs_for, predict, small_model
from keras_trt import layers as trt_layers
from keras_trt import models
from keras_trt.models import blocks


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


# --- parameter counts -----------------------------------------------------------------------------


def _basic_blocks(stem_kernel, stem, stages, widths, classes, head=()):
    """Trainable parameters of a BasicBlock ResNet on RGB input, counted independently of the
    builders: convolutions without bias, BatchNorm scale and offset, projection shortcuts."""
    total = 3 * stem * stem_kernel**2 + 2 * stem
    channels = stem
    for stage, (count, width) in enumerate(zip(stages, widths)):
        for block in range(count):
            total += channels * width * 9 + 2 * width + width * width * 9 + 2 * width
            if (stage > 0 and block == 0) or channels != width:
                total += channels * width + 2 * width
            channels = width
    for units in head:
        total += channels * units + units
        channels = units
    return total + channels * classes + classes


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "name, expected",
    [
        ("sresnet18", 11_689_512),  # torchvision resnet18
        ("sresnet34", 21_797_672),  # torchvision resnet34
        ("sew_resnet18", 11_689_512),  # SEW's extra neurons have no parameters
        ("sew_resnet34", 21_797_672),
    ],
)
def test_imagenet_resnets_have_torchvision_parameter_counts(name, expected):
    model = build(name, num_classes=1000)
    assert model.input_shape == (None, 224, 224, 3)
    assert _trainable(model) == expected
    layout = models.resnet._RESNET34 if "34" in name else models.resnet._RESNET18
    assert expected == _basic_blocks(7, 64, *layout, 1000)


@pytest.mark.backend_independent
def test_cifar_resnets_parameter_counts():
    assert _trainable(build("sresnet18_cifar")) == _basic_blocks(3, 64, *models.resnet._RESNET18, 10)
    # TET's ResNet-19: 128-256-512, [3, 3, 2], fc1 256, fc2 = classifier.
    assert _trainable(build("sresnet19")) == _basic_blocks(3, 128, (3, 3, 2), (128, 256, 512), 10, head=(256,))
    # He et al.'s ResNet-20 (16-32-64, [3, 3, 3]) with projection shortcuts: 0.27M.
    assert _trainable(build("sresnet20")) == _basic_blocks(3, 16, (3, 3, 3), (16, 32, 64), 10) == 272_474


# --- reversal points ------------------------------------------------------------------------------

REVERSE_POINTS = {
    "sresnet18_cifar": ["input", "stem", "stage1", "stage2", "stage3", "stage4"],
    "svgg11": ["input", "stem", "stage1", "stage2", "stage3", "stage4", "stage5"],
    "vggsnn": ["input", "stem", "stage1", "stage2", "stage3", "stage4"],
    "spointnet": ["input", "stem", "stage1", "stage2"],
    "spiking_cnn": ["input", "stem"],
}


@pytest.mark.parametrize("name", list(REVERSE_POINTS))
def test_every_reversal_point_builds_a_valid_trt_model(name):
    """Each point gives a TRT-valid model (shape inference under the branches) whose inference
    is the same network: identical weights give identical logits wherever the reversal sits."""
    points = REVERSE_POINTS[name]
    built = {}
    for point in points:
        model = small_model(name, reverse_at=point)
        model.compile("sgd", trt=keras_trt.TRTConfig())  # validates the TRT structure
        assert isinstance(model.get_layer("reversal"), trt_layers.TemporalReversal)
        built[point] = model
    first, last = built[points[0]], built[points[-1]]
    last.set_weights(first.get_weights())
    x = inputs_for(first)
    np.testing.assert_allclose(predict(last, x), predict(first, x), atol=1e-6)
    with pytest.raises(ValueError, match=r"reverse_at must be one of \['input', 'stem'"):
        small_model(name, reverse_at="stage9")


@pytest.mark.backend_independent
def test_reverse_at_error_suggests_the_close_name():
    with pytest.raises(ValueError, match="Did you mean 'stage2'"):
        small_model("sresnet18_cifar", reverse_at="stage_2")


@pytest.mark.backend_independent
def test_stem_reversal_sits_after_the_imagenet_max_pool():
    model = small_model("sresnet18")
    parent = model.get_layer("reversal")._inbound_nodes[0].parent_nodes[0].operation
    assert parent.name == "maxpool"


# --- errors that name the fix ----------------------------------------------------------------------


@pytest.mark.backend_independent
def test_unknown_architecture_suggests_close_names():
    with pytest.raises(ValueError, match=r"Unknown architecture 'sresnet43'.*Did you mean 'sresnet34'"):
        models.build("sresnet43")
    with pytest.raises(ValueError, match="list_architectures"):
        models.get_architecture("not-a-net")


@pytest.mark.backend_independent
def test_unknown_argument_suggests_close_names():
    with pytest.raises(TypeError, match=r"'num_clases' \(did you mean 'num_classes'\?\)"):
        models.build("sresnet18_cifar", num_clases=10)
    with pytest.raises(TypeError, match=r"'detach' \(did you mean 'detach_reset'\?\)"):
        models.sresnet20(detach=True)


@pytest.mark.backend_independent
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_num_classes_must_be_positive(bad):
    for name in ("sresnet18_cifar", "svgg11", "vggsnn", "spointnet", "spiking_cnn"):
        with pytest.raises(ValueError, match="num_classes must be a positive integer"):
            models.build(name, num_classes=bad)


@pytest.mark.backend_independent
def test_too_small_input_names_the_minimum_and_the_fix():
    with pytest.raises(ValueError, match=r"downsamples by 32(.|\n)*at least 32(.|\n)*stem='cifar'"):
        models.sresnet18(input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="at least 8"):
        models.sresnet18(stem="cifar", input_shape=(4, 4, 3))
    with pytest.raises(ValueError, match="at least 32"):
        models.svgg11(input_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="at least 16"):
        models.vggsnn(input_shape=(8, 8, 2))
    with pytest.raises(ValueError, match=r"\(height, width, channels\)"):
        models.sresnet18(input_shape=(32, 32))
    with pytest.raises(ValueError, match=r"\(num_points, channels\)"):
        models.spiking_pointnet(input_shape=(1024,))
    with pytest.raises(ValueError, match="input_transform=False"):
        models.spiking_pointnet(input_shape=(1024, 6))


@pytest.mark.backend_independent
def test_other_option_errors():
    with pytest.raises(ValueError, match="stem must be one of"):
        models.sresnet18(stem="tiny")
    with pytest.raises(ValueError, match="block must be one of"):
        models.sresnet18(block="bottleneck")
    with pytest.raises(ValueError, match="sew_function must be one of"):
        models.sew_resnet18(sew_function="or")
    with pytest.raises(ValueError, match="width_multiplier must be a positive number"):
        models.sresnet18(width_multiplier=0)
    with pytest.raises(ValueError, match="timesteps must be a positive integer"):
        models.sresnet18(timesteps=0)
    with pytest.raises(ValueError, match="neuron must be one of"):
        models.sresnet18(neuron="izhikevich")
    with pytest.raises(ValueError, match="tau must be >= 1"):
        models.sresnet18(tau=0.5)
    with pytest.raises(ValueError, match="pooling must be one of"):
        models.svgg11(pooling="max")
    with pytest.raises(ValueError, match="dropout must be in"):
        models.svgg11(dropout=1.0)


# --- options ----------------------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_neuron_options_reach_every_neuron():
    model = small_model(
        "sew_resnet18_cifar", neuron="plif", tau=3.0, v_threshold=0.5, v_reset=None,
        detach_reset=False, surrogate="sigmoid", decay_input=False,
    )
    neurons = [l for l in model.layers if isinstance(l, (trt_layers.LIF, trt_layers.ParametricLIF))]
    assert neurons and all(isinstance(l, trt_layers.ParametricLIF) for l in neurons)
    for l in neurons:
        assert (l.init_tau, l.v_threshold, l.v_reset, l.detach_reset, l.decay_input) == (3.0, 0.5, None, False, False)
        assert type(l.surrogate).__name__ == "Sigmoid"
    defaults = [l for l in small_model("sresnet20").layers if isinstance(l, trt_layers.LIF)]
    assert all(l.detach_reset and type(l.surrogate).__name__ == "ATan" and l.tau == 2.0 for l in defaults)


@pytest.mark.backend_independent
@pytest.mark.parametrize("function", ["add", "and", "iand"])
def test_sew_functions(function):
    model = small_model("sew_resnet18_cifar", sew_function=function)
    assert model.get_layer("layer1_0_sew").__class__.__name__ == {"add": "Add", "and": "Multiply", "iand": "Subtract"}[function]


@pytest.mark.backend_independent
def test_stride_two_convolutions_pad_like_pytorch():
    """Explicit symmetric padding before every stride-2 conv, 'valid' convolution after it."""
    model = small_model("sresnet18")
    for layer in model.layers:
        inner = getattr(layer, "layer", None)
        if isinstance(inner, keras.layers.Conv2D) and inner.strides == (2, 2) and inner.kernel_size != (1, 1):
            assert inner.padding == "valid"
            pad = model.get_layer(f"{layer.name}_pad").layer
            k = inner.kernel_size[0] // 2
            assert pad.padding == ((k, k), (k, k))
        if isinstance(inner, keras.layers.BatchNormalization):
            assert (inner.epsilon, inner.momentum) == (1e-5, 0.9)


@pytest.mark.backend_independent
def test_width_multiplier_scales_every_width():
    model = small_model("sresnet18_cifar", width_multiplier=0.5)
    assert model.get_layer("conv1").layer.filters == 32
    assert model.get_layer("layer4_1_conv2").layer.filters == 256


# --- registry API -------------------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_register_build_and_unregister_a_new_architecture():
    def tiny(**kwargs):
        return models.spiking_resnet((1, 1), (8, 16), stem="cifar", **kwargs)

    arch = models.register(
        "tiny_resnet", tiny, name="tiny_resnet", description="two one-block stages",
        small=dict(input_shape=(8, 8, 3), timesteps=2),
    )
    try:
        assert "tiny_resnet" in models.list_architectures()
        assert models.describe()["tiny_resnet"] == "two one-block stages"
        model = build("tiny_resnet", num_classes=3, **arch.small)
        assert model.name == "tiny_resnet" and model.output_shape == (None, 3)
        with pytest.raises(ValueError, match="already registered"):
            models.register("tiny_resnet", tiny, description="", small={})
        with pytest.raises(TypeError, match="small must be a dict"):
            models.register("other_net", tiny, description="", small=None)
        with pytest.raises(ValueError, match="lower case"):
            models.register("Bad-Name", tiny, description="", small={})
    finally:
        models.unregister("tiny_resnet")
    assert "tiny_resnet" not in models.list_architectures()


@pytest.mark.backend_independent
def test_every_entry_has_a_description_and_builds_its_defaults_lazily():
    for name in models.list_architectures():
        arch = models.get_architecture(name)
        assert arch.description and isinstance(dict(arch.small), dict)
        assert arch.defaults.get("name", name) == name


@pytest.mark.backend_independent
def test_neuron_factory_validates_early():
    with pytest.raises(ValueError, match="v_reset"):
        blocks.neuron_factory(v_reset=2.0, v_threshold=1.0)
    make = blocks.neuron_factory(neuron="plif")
    assert isinstance(make("x"), trt_layers.ParametricLIF) and make.kind == "plif"
