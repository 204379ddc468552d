"""The event-level probes of event recipes: the perturbed held-out streams (by the physics of a
fixed window), their accuracies in training.probes.robustness, and their table on the compare page."""

import keras
import numpy as np
import pytest

import tiny_models
from keras_trt.data import make_events, streams_to_frames
from training import compare, datasets, probes

once = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                          reason="backend-independent: runs under the tensorflow pass")

WINDOW, T, SIZE = 20_000, 4, (5, 6)


def _streams(n=6):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        k = int(rng.integers(40, 80))
        out.append(make_events(rng.integers(0, SIZE[1], k), rng.integers(0, SIZE[0], k),
                               np.sort(rng.integers(0, WINDOW, k)), rng.integers(0, 2, k)))
    return out


def _events(streams):
    def to_frames(s):
        return streams_to_frames(s, T, SIZE, split_by="time", window=(0, WINDOW))

    return datasets.EventStreams(streams, np.zeros(len(streams), np.int32), to_frames, WINDOW, SIZE)


@once
def test_event_variants_follow_the_stream_physics():
    streams = _streams()
    ev = _events(streams)
    x = ev.to_frames(streams)
    v = probes.event_variants(ev)
    assert set(v) == {k for k, _ in probes.EVENT_PERTURBATIONS}
    # Played backwards: frames in reverse order with ON and OFF swapped (5 ms bins map exactly).
    np.testing.assert_array_equal(v["stream_reversed"], x[:, ::-1, ..., ::-1])
    # Twice the speed: everything lands in the first half of the window.
    assert v["speed_2x"][:, T // 2 :].sum() == 0 and v["speed_2x"].sum() == x.sum()
    # Half the speed: only the events of the first half of the window stay, spread over all bins.
    first_half = sum(int(np.sum(s["t"] < WINDOW // 2)) for s in streams)
    assert v["speed_half"].sum() == first_half
    np.testing.assert_array_equal(v["speed_half"][:, :2].sum(axis=1), x[:, :1].sum(axis=1))
    # Noise: half as many events again, every original event kept.
    assert v["noise"].sum() == sum(len(s) + round(0.5 * len(s)) for s in streams)
    assert np.all(v["noise"] >= x)


def test_robustness_scores_the_extra_inputs_with_the_whole_model():
    keras.utils.set_random_seed(0)
    model = tiny_models.temporal_mlp(timesteps=4, features=6, num_classes=3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4, 6)).astype("float32") * 3
    y = rng.integers(0, 3, 12)
    extra = {"a": x[:, ::-1].copy(), "b": rng.normal(size=x.shape).astype("float32") * 3}
    out = probes.robustness(model, x, y, batch_size=6, inputs=extra)
    for k, v in extra.items():
        want = np.mean(np.argmax(model.predict(v, verbose=0), -1) == y)
        assert out["events"][k] == pytest.approx(want)
    assert "events" not in probes.robustness(model, x, y, batch_size=6)


@once
def test_compare_page_tables_the_event_probes():
    keys = [k for k, _ in probes.EVENT_PERTURBATIONS]

    def run(acc, shift):
        return {"probe": {"accuracy": acc, "events": {k: acc - shift * (i + 1) for i, k in enumerate(keys)}}}

    result = {"arms": [{"key": "trt", "label": "TRT"}, {"key": "plain", "label": "plain SNN"}],
              "runs": {"trt": [run(0.90, 0.10), run(0.92, 0.10)], "plain": [run(0.88, 0.20), run(0.86, 0.20)]}}
    lines = compare.event_probe_section(result)
    trt_row = next(line for line in lines if line.startswith("| TRT |"))
    cells = [c.strip() for c in trt_row.strip("|").split("|")]
    assert cells[1] == "91.0 ± 1.4"  # mean and sample std of 90, 92
    assert cells[2] == "81.0 ± 1.4" and cells[5] == "51.0 ± 1.4"
    diff = next(line for line in lines if line.startswith("| TRT − plain SNN |"))
    # stream reversed: TRT 80, 82 against plain 68, 66: differences 12 and 16, mean +14.0
    assert diff.split("|")[2].strip().startswith("+14.0 (")
