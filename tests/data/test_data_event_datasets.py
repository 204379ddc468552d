"""tfds builders for DVS128 Gesture, CIFAR10-DVS and N-Caltech101, built end to end from tiny
manual directories in the real file formats, then read back."""

import numpy as np
import pytest
import tensorflow as tf

from keras_trt.data import (
    CIFAR10_DVS_CLASS_NAMES,
    Cifar10Dvs,
    DvsGesture,
    NCaltech101,
    downsample,
    event_frames,
    events_to_frames,
)

pytestmark = pytest.mark.backend_independent


def _examples(builder, split):
    out = {}
    for ex in builder.as_dataset(split=split).as_numpy_iterator():
        out[ex["source"].decode()] = (ex["frames"], int(ex["label"]))
    return out


def _gesture_recording(fmt, path, seed, rows):
    ev = fmt.random_events(400, 128, 128, seed=seed, t0=0, max_dt=10)
    evs = [(int(x), int(y), int(p), int(t), 1) for t, x, y, p in zip(ev["t"], ev["x"], ev["y"], ev["p"])]
    fmt.write_aedat3(path, [fmt.aedat3_packet(evs[:250]), fmt.aedat3_packet(evs[250:])])
    fmt.write_gesture_labels(path.with_name(path.stem + "_labels.csv"), rows)
    return ev


def test_dvs_gesture_builder_end_to_end(tmp_path, fmt):
    root = tmp_path / "manual" / "DvsGesture"
    root.mkdir(parents=True)
    ev1 = _gesture_recording(fmt, root / "user01_fluorescent.aedat", 1, [(3, 100, 1500), (7, 1500, 2500)])
    ev2 = _gesture_recording(fmt, root / "user24_led.aedat", 2, [(11, 0, 1000)])
    (root / "trials_to_train.txt").write_text("user01_fluorescent.aedat\n")
    (root / "trials_to_test.txt").write_text("user24_led.aedat\n\n")

    cfg = DvsGesture.config(frames=4, size=(32, 32))
    builder = DvsGesture(config=cfg, data_dir=str(tmp_path / "tfds"))
    import tensorflow_datasets as tfds

    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(tmp_path / "manual")))
    train, test = _examples(builder, "train"), _examples(builder, "test")
    assert sorted(train) == ["user01_fluorescent_0", "user01_fluorescent_1"] and list(test) == ["user24_led_0"]

    def expected(ev, lo, hi):
        m = (ev["t"] >= lo) & (ev["t"] < hi)
        return downsample(events_to_frames({k: v[m] for k, v in ev.items()}, 4, (128, 128)), (32, 32))

    frames, label = train["user01_fluorescent_1"]
    assert frames.shape == (4, 32, 32, 2) and frames.dtype == np.float32 and label == 6
    np.testing.assert_allclose(frames, expected(ev1, 1500, 2500), rtol=1e-6)
    np.testing.assert_allclose(test["user24_led_0"][0], expected(ev2, 0, 1000), rtol=1e-6)
    assert test["user24_led_0"][1] == 10
    assert builder.info.features["label"].names[10] == "other_gestures"

    # event_frames reads the prepared data set (no manual_dir needed any more)
    ds = event_frames("dvs128_gesture", "train", frames=4, size=(32, 32), data_dir=tmp_path / "tfds",
                      batch_size=2, shuffle=False)
    (x, y), = list(ds)
    assert x.shape == (2, 4, 32, 32, 2) and y.dtype == tf.int32 and sorted(y.numpy().tolist()) == [2, 6]


def test_dvs_gesture_errors(tmp_path):
    (tmp_path / "manual").mkdir()
    with pytest.raises(FileNotFoundError, match="is empty"):
        event_frames("dvs128_gesture", frames=2, manual_dir=tmp_path / "manual", data_dir=tmp_path / "tfds")
    (tmp_path / "manual" / "README.txt").write_text("not the data")
    with pytest.raises(FileNotFoundError, match="trials_to_train.txt"):
        event_frames("dvs128_gesture", frames=2, size=(16, 16), manual_dir=tmp_path / "manual",
                     data_dir=tmp_path / "tfds")
    with pytest.raises(FileNotFoundError, match="pass manual_dir"):
        event_frames("dvs128_gesture", frames=2, data_dir=tmp_path / "tfds")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        event_frames("dvs128_gesture", frames=2, manual_dir=tmp_path / "nowhere", data_dir=tmp_path / "tfds")
    with pytest.raises(ValueError, match="unknown event data set"):
        event_frames("n_mnist")
    with pytest.raises(ValueError, match="split_by"):
        DvsGesture.config(frames=2, split_by="count")
    assert DvsGesture.config(frames=16, size=(128, 128)) is DvsGesture.BUILDER_CONFIGS[0]


def test_cifar10_dvs_builder_end_to_end(tmp_path, fmt):
    manual = tmp_path / "manual"
    events = {}
    for label, cname in enumerate(CIFAR10_DVS_CLASS_NAMES):
        (manual / cname).mkdir(parents=True)
        for i in range(4):
            ev = fmt.random_events(60, 128, 128, seed=100 * label + i)
            addr = [fmt.dvs128_address(int(x), int(y), int(p)) for x, y, p in zip(ev["x"], ev["y"], ev["p"])]
            fmt.write_aedat2(manual / cname / f"cifar10_{cname}_{i}.aedat", addr, ev["t"].tolist())
            # SpikingJelly orientation: x = 127 - y_raw, y = 127 - x_raw, p = 1 - p_raw
            events[f"{cname}/cifar10_{cname}_{i}.aedat"] = (
                {"t": ev["t"], "x": 127 - ev["y"], "y": 127 - ev["x"], "p": 1 - ev["p"]}, label)
    ds = event_frames("cifar10_dvs", "test", frames=3, size=(64, 64), manual_dir=manual,
                      data_dir=tmp_path / "tfds", batch_size=100, train_fraction=0.5)
    (x, y), = list(ds)
    assert x.shape == (20, 3, 64, 64, 2) and np.bincount(y.numpy()).tolist() == [2] * 10

    builder = Cifar10Dvs(config=Cifar10Dvs.config(3, (64, 64), train_fraction=0.5), data_dir=str(tmp_path / "tfds"))
    test = _examples(builder, "test")
    assert sorted(test) == sorted(k for k in events if k.endswith(("_2.aedat", "_3.aedat")))
    ev, label = events["ship/cifar10_ship_3.aedat"]
    frames, got_label = test["ship/cifar10_ship_3.aedat"]
    assert got_label == label == 8
    np.testing.assert_allclose(frames, downsample(events_to_frames(ev, 3, (128, 128)), (64, 64)), rtol=1e-6)

    # TEBN split: the lowest-numbered 10 % of each class (ceil(0.4) = 1 here) is the test set
    tebn = Cifar10Dvs(config=Cifar10Dvs.config(2, (16, 16), split_scheme="tebn"), data_dir=str(tmp_path / "tfds"))
    import tensorflow_datasets as tfds

    tebn.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    assert sorted(_examples(tebn, "test")) == sorted(f"{c}/cifar10_{c}_0.aedat" for c in CIFAR10_DVS_CLASS_NAMES)


def test_cifar10_dvs_missing_class_folder(tmp_path):
    for cname in CIFAR10_DVS_CLASS_NAMES[:-1]:
        (tmp_path / "manual" / cname).mkdir(parents=True)
        (tmp_path / "manual" / cname / f"cifar10_{cname}_0.aedat").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"\['truck'\]"):
        event_frames("cifar10_dvs", frames=2, size=(16, 16), manual_dir=tmp_path / "manual",
                     data_dir=tmp_path / "tfds")


def test_ncaltech101_builder_end_to_end(tmp_path, fmt):
    root = tmp_path / "manual" / "Caltech101"
    events = {}
    for cname in ("BACKGROUND_Google", "accordion", "airplanes"):
        (root / cname).mkdir(parents=True)
        for i in range(1, 3):
            ev = fmt.random_events(80, 180, 240, seed=len(events))
            fmt.write_atis_bin(root / cname / f"image_{i:04d}.bin", ev["x"].tolist(), ev["y"].tolist(),
                               ev["p"].tolist(), (ev["t"] - ev["t"][0]).tolist())
            events[f"{cname}/image_{i:04d}.bin"] = ev
    data_dir = tmp_path / "tfds"
    ds = event_frames("n_caltech101", "train", frames=2, size=(45, 60), manual_dir=tmp_path / "manual",
                      data_dir=data_dir, batch_size=8, train_fraction=0.5, seed=0)
    (x, y), = list(ds)
    assert x.shape == (3, 2, 45, 60, 2) and sorted(y.numpy().tolist()) == [0, 1, 2]

    # a fresh builder reads the class names discovered at build time back from disk
    builder = NCaltech101(config=NCaltech101.config(2, (45, 60), train_fraction=0.5), data_dir=str(data_dir))
    assert builder.info.features["label"].names == ["BACKGROUND_Google", "accordion", "airplanes"]
    test = _examples(builder, "test")
    assert sorted(test) == ["BACKGROUND_Google/image_0002.bin", "accordion/image_0002.bin", "airplanes/image_0002.bin"]
    ev = events["airplanes/image_0002.bin"]
    ev = dict(ev, t=ev["t"] - ev["t"][0])
    np.testing.assert_allclose(test["airplanes/image_0002.bin"][0],
                               downsample(events_to_frames(ev, 2, (180, 240)), (45, 60)), rtol=1e-6)
    assert test["airplanes/image_0002.bin"][1] == 2
