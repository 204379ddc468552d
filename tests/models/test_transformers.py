"""The spiking transformers against SpikingJelly 2.0's own ``model.spikformer``,
``model.spike_driven_transformer`` and ``model.qkformer``: logits on shared weights, parameter
counts, the importer's errors, and the attention layers' products against NumPy.

Logits: tiny configurations of each family (SpikingJelly's classes with small ``embed_dims`` /
``depths``), random weights and BatchNorm parameters and running statistics, the weights copied
with :func:`keras_trt.export.load_torch_transformer`, the same static images repeated over T:
the logits agree to 1e-4 in inference mode (running statistics) and in one training-mode forward
pass (batch statistics over batch, time and tokens).
"""

import keras
import numpy as np
import pytest

import keras_trt
from arch_helpers import build, forward, to_numpy
from keras_trt import layers as trt_layers
from keras_trt.export import load_torch_transformer

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikingjelly.activation_based import functional  # noqa: E402
from spikingjelly.activation_based.model import qkformer as sj_qkformer  # noqa: E402
from spikingjelly.activation_based.model import spike_driven_transformer as sj_sdt  # noqa: E402
from spikingjelly.activation_based.model import spikformer as sj_spikformer  # noqa: E402

T, B = 2, 3

# name: (SpikingJelly constructor, its kwargs, our builder name, our kwargs, input size, output is per step)
CASES = {
    "spikformer-2-32-patch4": (
        sj_spikformer.Spikformer,
        dict(img_size_h=32, img_size_w=32, patch_size=4, embed_dims=32, num_heads=2, depths=2),
        "spikformer_cifar10", dict(embed_dims=32, num_heads=2, depths=2), 32, True,
    ),
    "spikformer-1-32-patch16": (
        sj_spikformer.Spikformer,
        dict(img_size_h=32, img_size_w=32, patch_size=16, embed_dims=32, num_heads=1, depths=1),
        "spikformer_ti", dict(embed_dims=32, num_heads=1, depths=1), 32, True,
    ),
    "sdt-2-32-0011": (
        sj_sdt.SpikeDrivenTransformer,
        dict(embed_dims=32, num_heads=2, depths=2, pooling_stat="0011"),
        "sdt_2_512_cifar", dict(embed_dims=32, num_heads=2, depths=2), 32, False,
    ),
    "sdt-1-32-mlp1": (  # mlp_ratio 1: the MLP's second shortcut; pooling on the BN output off
        sj_sdt.SpikeDrivenTransformer,
        dict(embed_dims=32, num_heads=2, depths=1, pooling_stat="1110", mlp_ratio=1.0),
        "sdt_8_384", dict(embed_dims=32, num_heads=2, depths=1, pooling_stat="1110", mlp_ratio=1.0), 32, False,
    ),
    "qkformer-111-32": (
        sj_qkformer.QKFormer,
        dict(embed_dims=32, num_heads=(1, 2, 2), depths=(1, 1, 1)),
        "qkformer_10_384", dict(embed_dims=32, num_heads=(1, 2, 2), depths=(1, 1, 1)), 36, False,
    ),
}


def _randomize(net, generator):
    """Weights of unit gain and BatchNorm parameters and statistics that matter."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0.0, 1.5 / fan_in**0.5, generator=generator)
                if m.bias is not None:
                    m.bias.uniform_(-0.2, 0.2, generator=generator)
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.uniform_(0.2, 1.2, generator=generator)
                m.running_mean.normal_(0.0, 0.1, generator=generator)
                m.running_var.uniform_(0.2, 0.6, generator=generator)


def _pair(case, seed=0):
    cls, sj_kwargs, ours, our_kwargs, size, per_step = CASES[case]
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = cls(T=T, num_classes=10, **sj_kwargs)
    _randomize(net, generator)
    model = build(ours, num_classes=10, timesteps=T, input_shape=(size, size, 3), **our_kwargs)
    report = load_torch_transformer(model, net.state_dict())
    assert not report.missing and not report.unexpected
    x = torch.randn(B, 3, size, size, generator=generator) * torch.arange(1.0, B + 1).view(B, 1, 1, 1)
    return net, model, x, per_step


def _reference(net, x, per_step, training):
    net.train(training)
    functional.reset_net(net)
    with torch.no_grad():
        out = net(x)
    return (out.mean(0) if per_step else out).numpy()


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_spikingjelly(case, training):
    net, model, x, per_step = _pair(case)
    expected = _reference(net, x, per_step, training)
    ours = forward(model, np.transpose(x.numpy(), (0, 2, 3, 1)), training=training)
    assert np.std(expected, axis=0).max() > 1e-2, "the reference network is silent"
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


def test_attention_neurons_fire_in_the_parity_networks():
    """The parity cases exercise the attention: its neurons fire (neither silent nor saturated)."""
    for case in CASES:
        _, model, x, _ = _pair(case)
        names = [l.name for l in model.layers if l.name.endswith("attn_lif")]
        probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
        rates = [float(np.mean(o)) for o in forward(probe, np.transpose(x.numpy(), (0, 2, 3, 1)))]
        assert names and all(0.0 < r < 1.0 for r in rates), (case, dict(zip(names, rates)))


# Every registered transformer configuration against SpikingJelly's constructor with the same
# arguments (building all of them costs ~50 s).
PARAMETER_CASES = {
    "spikformer_ti": (sj_spikformer.spikformer_ti, {}),
    "spikformer_s": (sj_spikformer.spikformer_s, {}),
    "spikformer_cifar10": (sj_spikformer.spikformer_cifar10, {}),
    "spikformer_8_384": (sj_spikformer.Spikformer, dict(embed_dims=384, num_heads=12, depths=8, patch_size=16)),
    "spikformer_8_768": (sj_spikformer.Spikformer, dict(embed_dims=768, num_heads=12, depths=8, patch_size=16)),
    "sdt_8_384": (sj_sdt.sdt_8_384, {}),
    "sdt_8_768": (sj_sdt.SpikeDrivenTransformer, dict(embed_dims=768, num_heads=8, depths=8)),
    "sdt_2_512_cifar": (
        sj_sdt.SpikeDrivenTransformer, dict(embed_dims=512, num_heads=8, depths=2, pooling_stat="0011", num_classes=10),
    ),
    "qkformer_10_384": (sj_qkformer.qkformer_10_384, {}),
    "qkformer_10_768": (sj_qkformer.QKFormer, dict(embed_dims=768, num_heads=(12, 12, 12), depths=(1, 2, 7))),
}


def test_every_registered_transformer_has_a_parameter_case():
    families = ("spikformer", "sdt_", "qkformer")
    registered = {n for n in keras_trt.models.list_architectures() if n.startswith(families)}
    assert registered == set(PARAMETER_CASES)


# One configuration per family is counted under every backend (the weights are created by the
# backend); the others, whose counts follow from the same shape inference, under the first.
EVERY_BACKEND = ("spikformer_cifar10", "sdt_8_384", "qkformer_10_384")


@pytest.mark.parametrize("name", [
    name if name in EVERY_BACKEND else pytest.param(name, marks=pytest.mark.backend_independent)
    for name in PARAMETER_CASES
])
def test_parameter_counts_match_spikingjelly(name):
    fn, kwargs = PARAMETER_CASES[name]
    expected = sum(p.numel() for p in fn(**kwargs).parameters())
    model = keras_trt.models.build(name)
    ours = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert ours == expected, (name, ours, expected)


def test_importer_names_the_fix():
    net, model, _, _ = _pair("spikformer-2-32-patch4")
    state = net.state_dict()
    shallow = build("spikformer_cifar10", num_classes=10, timesteps=T, input_shape=(32, 32, 3),
                    embed_dims=32, num_heads=2, depths=1)
    with pytest.raises(KeyError, match=r"unexpected key\(s\): blocks\.1\..*depths"):
        load_torch_transformer(shallow, state)
    before = to_numpy(shallow.get_layer("blocks_0_attn_qkv_conv_bn_0").layer.kernel)
    wide = build("spikformer_cifar10", num_classes=10, timesteps=T, input_shape=(32, 32, 3),
                 embed_dims=64, num_heads=2, depths=2)
    with pytest.raises(ValueError, match="Shape mismatch.*embed_dims"):
        load_torch_transformer(wide, state)
    report = load_torch_transformer(shallow, state, strict=False)
    assert report.unexpected and all(k.startswith("blocks.1.") for k in report.unexpected)
    assert not np.array_equal(before, to_numpy(shallow.get_layer("blocks_0_attn_qkv_conv_bn_0").layer.kernel))
    other = build("spikformer_cifar10", num_classes=7, timesteps=T, input_shape=(32, 32, 3),
                  embed_dims=32, num_heads=2, depths=2)
    report = load_torch_transformer(other, state, skip_classifier=True)
    assert report.skipped == ["head.bias", "head.weight"] and not report.missing


# --- the attention layers against NumPy ---------------------------------------------------------


def _spikes(rng, shape, p=0.4):
    return (rng.random(shape) < p).astype("float32")


def test_self_attention_product_matches_numpy():
    rng = np.random.default_rng(0)
    n, length, heads, cph = 3, 5, 2, 4
    qkv = _spikes(rng, (n, length, 3 * heads * cph))
    out = to_numpy(trt_layers.SelfAttentionProduct(heads, scale=0.125)(qkv))
    parts = qkv.reshape(n, length, 3, heads, cph)
    for h in range(heads):
        q, k, v = (parts[:, :, s, h].astype("float64") for s in range(3))
        expected = 0.125 * np.einsum("nic,njc,njd->nid", q, k, v)
        np.testing.assert_allclose(out[:, :, h * cph:(h + 1) * cph], expected, atol=1e-6)
    # ACs: K^T V co-active pairs, then one per Q spike times the non-zero entries of its row of M.
    expected_acs = 0
    for i in range(n):
        for h in range(heads):
            q, k, v = (parts[i, :, s, h] for s in range(3))
            expected_acs += sum(int(k[l].sum() * v[l].sum()) for l in range(length))
            m = k.T @ v
            expected_acs += sum(int((m[c] != 0).sum()) for l in range(length) for c in range(cph) if q[l, c])
    assert trt_layers.SelfAttentionProduct(heads).accumulates(qkv) == expected_acs


def test_qk_token_attention_and_sdsa_match_numpy():
    rng = np.random.default_rng(1)
    n, length, heads, cph = 2, 6, 3, 2
    qk = _spikes(rng, (n, length, 2 * heads * cph))
    sums = to_numpy(trt_layers.QKTokenSum(heads)(qk))
    q = qk[..., : heads * cph].reshape(n, length, heads, cph)
    np.testing.assert_array_equal(sums, q.sum(-1))
    gate = _spikes(rng, (n, length, heads))
    gated = to_numpy(trt_layers.QKTokenGate(heads)(np.concatenate([gate, qk], -1)))
    k = qk[..., heads * cph:].reshape(n, length, heads, cph)
    np.testing.assert_array_equal(gated, (k * gate[..., None]).reshape(n, length, -1))
    kv = _spikes(rng, (n, length, 8))
    np.testing.assert_array_equal(
        to_numpy(trt_layers.TokenProductSum()(kv)), (kv[..., :4] * kv[..., 4:]).sum(1, keepdims=True)
    )
    assert trt_layers.TokenProductSum().accumulates(kv) == int(((kv[..., :4] > 0) & (kv[..., 4:] > 0)).sum())


def test_max_pool_padding_is_pytorch_exact_on_negative_values():
    x = -np.abs(np.random.default_rng(2).normal(size=(2, 7, 6, 3))).astype("float32") - 1.0
    ours = keras.layers.MaxPooling2D(3, strides=2)(trt_layers.MaxPoolPadding2D(1)(x))
    expected = torch.nn.functional.max_pool2d(torch.from_numpy(x).permute(0, 3, 1, 2), 3, 2, 1).permute(0, 2, 3, 1)
    np.testing.assert_array_equal(to_numpy(ours), expected.numpy())


def test_transformer_builders_check_their_arguments():
    with pytest.raises(ValueError, match="patch_size must be one of"):
        keras_trt.models.spikformer(patch_size=3)
    with pytest.raises(ValueError, match="multiple of 8"):
        keras_trt.models.spikformer(embed_dims=36, num_heads=2)
    with pytest.raises(ValueError, match="pooling_stat"):
        keras_trt.models.spike_driven_transformer(pooling_stat="11")
    with pytest.raises(ValueError, match="reverse_at must be one of.*block2"):
        keras_trt.models.spikformer(embed_dims=32, num_heads=2, depths=2, reverse_at="block3")
    with pytest.raises(ValueError, match="one value per stage"):
        keras_trt.models.qkformer(num_heads=(2, 2))


@pytest.mark.parametrize("point", ["input", "block1"])
def test_other_reversal_points(point):
    model = build("spikformer_cifar10", num_classes=10, timesteps=T, input_shape=(16, 16, 3),
                  embed_dims=32, num_heads=2, depths=1, reverse_at=point)
    reversal = model.get_layer("reversal")
    parent = reversal._inbound_nodes[0].parent_nodes[0].operation.name
    assert parent == {"input": "repeat_time", "block1": "blocks_0_mlp_add"}[point]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the traced program is inspected with jax.make_jaxpr")
@pytest.mark.parametrize("name, kwargs, size, points", [
    ("spikformer_cifar10", dict(embed_dims=32, num_heads=2, depths=1), 16, ("stem", "block1", "input")),
    ("sdt_2_512_cifar", dict(embed_dims=32, num_heads=2, depths=1), 16, ("stem", "block1", "input")),
    ("qkformer_10_384", dict(embed_dims=32, num_heads=(1, 2, 2), depths=(1, 0, 1)), 32, ("stem", "stage3", "input")),
])
def test_inference_program_is_the_plain_snn_wherever_the_reversal_is(name, kwargs, size, points):
    """The TRT model's inference pass is the plain network: no time flip, and the same program
    whatever the reversal point (the TRT training programs differ)."""
    import jax

    x = np.zeros((2, size, size, 3), "float32")

    def walk(jaxpr):  # every primitive, inside nested (jit, custom-gradient) programs too
        for e in jaxpr.eqns:
            yield str(e.primitive)
            for value in e.params.values():
                for sub in value if isinstance(value, (tuple, list)) else (value,):
                    sub = getattr(sub, "jaxpr", sub)
                    if hasattr(sub, "eqns"):
                        yield from walk(sub)

    def primitives(model):
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        jaxpr = jax.make_jaxpr(lambda a: model.stateless_call(tv, ntv, a, training=False)[0])(x)
        return list(walk(jaxpr.jaxpr)), jaxpr

    programs = [primitives(build(name, num_classes=4, timesteps=T, input_shape=(size, size, 3),
                                 reverse_at=p, **kwargs)) for p in points]
    prims, _ = programs[0]
    assert "rev" not in prims
    assert all(other == prims for other, _ in programs[1:])
    with keras_trt.temporal.trt_branches():  # the TRT branches do flip time: the check can fail
        assert "rev" in primitives(build(name, num_classes=4, timesteps=T, input_shape=(size, size, 3),
                                         **kwargs))[0]
