"""The spiking transformers in analysis and export: the profile counts the attention products
(against a brute-force recount), ONNX export equals predict, NIR export refuses attention by
name."""

import os
import sys

import keras
import numpy as np
import pytest

import keras_trt
from keras_trt import analysis
from keras_trt.export import NIRExportError, to_nir

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "models"))
from arch_helpers import activate, build  # noqa: E402

TINY = dict(num_classes=4, timesteps=2, embed_dims=32, num_heads=2)


def _tiny(name, **kwargs):
    model = build(name, **{**TINY, **kwargs})
    activate(model)
    return model


def _images(shape, n=3, seed=0):
    return (np.random.default_rng(seed).random((n,) + tuple(shape)) * 2).astype("float32")


def _brute_force_self_attention_acs(qkv, heads):
    """Q (K^T V) on spikes, counted term by term: a term of two spikes costs 1 when both are 1;
    a term of a spike and the integer M[c, d] costs 1 when the spike is 1 and M[c, d] != 0."""
    qkv = qkv.reshape((-1,) + qkv.shape[-2:])
    n, length, channels = qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3
    cph = channels // heads
    total = 0
    for i in range(n):
        parts = qkv[i].reshape(length, 3, heads, cph)
        for h in range(heads):
            q, k, v = parts[:, 0, h], parts[:, 1, h], parts[:, 2, h]
            m = np.zeros((cph, cph))
            for l in range(length):
                for c in range(cph):
                    for d in range(cph):
                        if k[l, c] and v[l, d]:
                            total += 1
                            m[c, d] += 1
            total += int(sum(np.count_nonzero(m[c]) for l in range(length) for c in range(cph) if q[l, c]))
    return total


def test_profile_counts_the_self_attention_as_accumulates():
    model = _tiny("spikformer_cifar10", input_shape=(16, 16, 3), depths=1)
    x = _images((16, 16, 3))
    report = analysis.profile(model, x)
    qkv = keras.Model(model.input, model.get_layer("blocks_0_attn_qkv_lif").output)(x, training=False)
    qkv = np.asarray(keras.ops.convert_to_numpy(qkv))
    assert 0 < qkv.mean() < 1
    row = report.layer("blocks_0_attn_product")
    assert row["macs"] == 0
    assert row["acs"] == pytest.approx(_brute_force_self_attention_acs(qkv, 2) / len(x))
    assert row["acs"] > 0
    # The attention neuron reads it; the projection after it gets spikes, so it costs SOPs.
    assert report.layer("blocks_0_attn_attn_lif")["firing_rate"] is not None
    proj = report.layer("blocks_0_attn_proj_conv_bn_0")
    assert proj["input"] == "spikes" and proj["macs"] == 0
    t = report.totals
    assert t["energy_pj"] == pytest.approx(4.6 * t["macs"] + 0.9 * (t["sops"] + t["acs"]))


def test_profile_of_the_spike_driven_and_qk_attention():
    model = _tiny("sdt_2_512_cifar", input_shape=(16, 16, 3), depths=1)
    x = _images((16, 16, 3))
    report = analysis.profile(model, x)
    kv = keras.Model(model.input, model.get_layer("blocks_0_attn_kv_concat").output)(x, training=False)
    k, v = np.split(np.asarray(keras.ops.convert_to_numpy(kv)), 2, axis=-1)
    assert report.layer("blocks_0_attn_kv_sum")["acs"] == pytest.approx(np.sum((k == 1) & (v == 1)) / len(x))
    assert report.layer("blocks_0_attn_mask")["acs"] == 0  # a mask of Q by spikes
    # Membrane shortcuts: every Dense of the blocks reads spikes.
    for name in ("blocks_0_attn_q_conv", "blocks_0_mlp_fc1", "blocks_0_mlp_fc2"):
        assert report.layer(name)["input"] == "spikes" and report.layer(name)["macs"] == 0, name

    model = _tiny("qkformer_10_384", input_shape=(32, 32, 3), num_heads=(1, 2, 2), depths=(1, 1, 1))
    x = _images((32, 32, 3))
    report = analysis.profile(model, x)
    qk = keras.Model(model.input, model.get_layer("stage1_0_attn_qk_lif").output)(x, training=False)
    qk = np.asarray(keras.ops.convert_to_numpy(qk))
    q_spikes = np.count_nonzero(qk[..., : qk.shape[-1] // 2])
    assert report.layer("stage1_0_attn_q_sum")["acs"] == pytest.approx(q_spikes / len(x))
    assert report.layer("stage1_0_attn_gate")["acs"] == 0


def test_nir_refuses_attention_naming_the_layer():
    pytest.importorskip("nir")
    model = _tiny("spikformer_cifar10", input_shape=(16, 16, 3), depths=1)
    with pytest.raises(NIRExportError, match=r"'blocks_0_attn_product' \(SelfAttentionProduct\).*ONNX"):
        to_nir(model)
    model = _tiny("sdt_2_512_cifar", input_shape=(16, 16, 3), depths=1)
    with pytest.raises(NIRExportError, match=r"'blocks_0_attn_kv_sum' \(TokenProductSum\)"):
        to_nir(model)


@pytest.mark.parametrize(
    "name, kwargs, size",
    [
        ("spikformer_cifar10", dict(depths=1), 16),
        ("sdt_2_512_cifar", dict(depths=1), 16),
        ("qkformer_10_384", dict(num_heads=(1, 2, 2), depths=(1, 0, 1)), 32),
    ],
)
def test_onnx_export_equals_predict(name, kwargs, size, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = _tiny(name, input_shape=(size, size, 3), **kwargs)
    x = _images((size, size, 3), n=2, seed=3)
    expected = model.predict(x, verbose=0)
    assert np.std(expected, axis=0).max() > 1e-3
    path = str(tmp_path / "model.onnx")
    model.export(path, format="onnx", verbose=False)
    session = ort.InferenceSession(path)
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(out, expected, atol=1e-5)
