"""Event readers (AEDAT 3.1, AEDAT 2.0, ATIS .bin) and framing, on files written here."""

import numpy as np
import pytest

from keras_trt.data import (
    DataFormatError,
    downsample,
    dvs_gesture_samples,
    events_to_frames,
    read_aedat2,
    read_aedat3,
    read_atis_bin,
    read_dvs_gesture_labels,
    slice_events,
)

pytestmark = pytest.mark.backend_independent


# ----------------------------------------------------------------------------- AEDAT 3.1


def _gesture_file(fmt, path):
    p1 = [(10, 20, 1, 100, 1), (127, 0, 0, 150, 1), (0, 127, 1, 200, 0), (64, 65, 0, 250, 1)]
    special = [b"\x01\x02\x03\x04\x05\x06\x07\x08"]  # type 0 (special) packet: skipped
    p2 = [(5, 6, 1, 7, 1), (7, 8, 0, 9, 1)]  # timestamps after an overflow
    fmt.write_aedat3(path, [
        fmt.aedat3_packet(p1),
        fmt.aedat3_packet(special, etype=0),
        fmt.aedat3_packet(p2, overflow=3),
    ])
    return p1, p2


def test_read_aedat3_decodes_fields_overflow_and_validity(tmp_path, fmt):
    path = tmp_path / "user01_fluorescent.aedat"
    p1, p2 = _gesture_file(fmt, path)
    ev = read_aedat3(path)
    valid = [e for e in p1 if e[4]] + [(x, y, p, t | (3 << 31), v) for x, y, p, t, v in p2]
    assert ev["t"].dtype == np.int64 and ev["p"].dtype == np.uint8
    assert ev["x"].tolist() == [e[0] for e in valid]
    assert ev["y"].tolist() == [e[1] for e in valid]
    assert ev["p"].tolist() == [e[2] for e in valid]
    assert ev["t"].tolist() == [e[3] for e in valid]
    assert ev["t"][-1] == 9 + 3 * 2**31
    assert len(read_aedat3(path, drop_invalid=False)["t"]) == 6


def test_read_aedat3_ignores_unused_capacity(tmp_path, fmt):
    path = fmt.write_aedat3(tmp_path / "a.aedat", [fmt.aedat3_packet([(1, 2, 1, 5, 1)], capacity=4)])
    ev = read_aedat3(path)
    assert ev["x"].tolist() == [1] and ev["t"].tolist() == [5]


def test_read_aedat3_matches_spikingjelly(tmp_path, fmt, sj):
    rng = np.random.default_rng(0)
    packets, ts = [], 0
    for k in range(4):
        evs = []
        for _ in range(50):
            ts += int(rng.integers(1, 1000))
            evs.append((int(rng.integers(0, 128)), int(rng.integers(0, 128)), int(rng.integers(0, 2)), ts, 1))
        packets.append(fmt.aedat3_packet(evs, overflow=k // 2))
    path = fmt.write_aedat3(tmp_path / "r.aedat", packets)
    ours, ref = read_aedat3(path), sj.load_aedat_v3(str(path))
    for k in "txyp":
        np.testing.assert_array_equal(ours[k], ref[k].astype(np.int64))


@pytest.mark.parametrize(
    "mangle, match",
    [
        (lambda b: b[:-3], "truncated AEDAT 3 packet"),
        (lambda b: b + b"\x01\x00", "truncated AEDAT 3 packet header"),
        (lambda b: b.replace(b"#!END-HEADER\r\n", b""), "END-HEADER"),
        (lambda b: b.replace(b"#!AER-DAT3.1", b"#!AER-DAT2.0"), "use read_aedat2"),
    ],
)
def test_read_aedat3_rejects_corrupt_files(tmp_path, fmt, mangle, match):
    good = fmt.write_aedat3(tmp_path / "g.aedat", [fmt.aedat3_packet([(1, 2, 1, 5, 1), (3, 4, 0, 6, 1)])])
    bad = tmp_path / "b.aedat"
    bad.write_bytes(mangle(good.read_bytes()))
    with pytest.raises(DataFormatError, match=match):
        read_aedat3(bad)


def test_read_aedat3_rejects_wrong_event_size(tmp_path, fmt):
    path = fmt.write_aedat3(tmp_path / "s.aedat", [fmt.aedat3_packet([b"\0" * 12], etype=1, size=12)])
    with pytest.raises(DataFormatError, match="8 bytes"):
        read_aedat3(path)


def test_missing_files_raise_file_not_found(tmp_path):
    for reader in (read_aedat3, read_aedat2, read_atis_bin, read_dvs_gesture_labels):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            reader(tmp_path / "nope.bin")


def test_gesture_labels_and_samples(tmp_path, fmt):
    path = tmp_path / "user01_fluorescent.aedat"
    _gesture_file(fmt, path)
    fmt.write_gesture_labels(tmp_path / "user01_fluorescent_labels.csv", [(1, 100, 200), (11, 200, 251)])
    labels, start, end = read_dvs_gesture_labels(tmp_path / "user01_fluorescent_labels.csv")
    assert labels.tolist() == [0, 10] and start.tolist() == [100, 200] and end.tolist() == [200, 251]
    samples = dvs_gesture_samples(path)
    assert [s[0] for s in samples] == [0, 10]
    assert samples[0][1]["t"].tolist() == [100, 150]  # end is exclusive
    assert samples[1][1]["t"].tolist() == [250]  # t=200 event was invalid


def test_gesture_labels_rejects_bad_rows(tmp_path):
    bad = tmp_path / "x_labels.csv"
    bad.write_text("class,startTime_usec,endTime_usec\n12,0,10\n")
    with pytest.raises(DataFormatError, match="1..11"):
        read_dvs_gesture_labels(bad)
    bad.write_text("class,startTime_usec,endTime_usec\n1,zero,10\n")
    with pytest.raises(DataFormatError, match="expected"):
        read_dvs_gesture_labels(bad)


# ----------------------------------------------------------------------------- AEDAT 2.0


def test_read_aedat2_raw_and_spikingjelly_orientation(tmp_path, fmt):
    xyp = [(0, 0, 0), (127, 0, 1), (3, 100, 1), (64, 5, 0)]
    ts = [10, 20, 30, 2**32 - 1]
    path = fmt.write_aedat2(tmp_path / "cifar10_airplane_0.aedat", [fmt.dvs128_address(*e) for e in xyp], ts)
    raw = read_aedat2(path, orientation="raw")
    assert raw["x"].tolist() == [e[0] for e in xyp]
    assert raw["y"].tolist() == [e[1] for e in xyp]
    assert raw["p"].tolist() == [e[2] for e in xyp]
    assert raw["t"].tolist() == ts and raw["t"].dtype == np.int64
    ev = read_aedat2(path)
    assert ev["x"].tolist() == [127 - e[1] for e in xyp]
    assert ev["y"].tolist() == [127 - e[0] for e in xyp]
    assert ev["p"].tolist() == [1 - e[2] for e in xyp]


def test_read_aedat2_matches_spikingjelly(tmp_path, fmt, sj):
    rng = np.random.default_rng(1)
    n = 300
    addr = [fmt.dvs128_address(int(a), int(b), int(c)) for a, b, c in rng.integers(0, [128, 128, 2], (n, 3))]
    ts = np.cumsum(rng.integers(1, 100, n)).tolist()
    path = fmt.write_aedat2(tmp_path / "c.aedat", addr, ts)
    ours, ref = read_aedat2(path), sj._load_origin_data(str(path))
    for k in "txyp":
        np.testing.assert_array_equal(ours[k], np.asarray(ref[k]).astype(np.int64))


def test_read_aedat2_rejects_truncated_and_other_versions(tmp_path, fmt):
    path = fmt.write_aedat2(tmp_path / "c.aedat", [1, 2], [3, 4])
    bad = tmp_path / "t.aedat"
    bad.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataFormatError, match="not a multiple of 8"):
        read_aedat2(bad)
    bad.write_bytes(b"#!AER-DAT3.1\r\n#!END-HEADER\r\n")
    with pytest.raises(DataFormatError, match="read_aedat3"):
        read_aedat2(bad)
    with pytest.raises(ValueError, match="orientation"):
        read_aedat2(path, orientation="flipped")


# ----------------------------------------------------------------------------- ATIS .bin


def test_read_atis_bin_fields_and_overflow(tmp_path, fmt):
    x, y, p, t = [0, 233, 17, 0, 5], [0, 173, 9, 240, 6], [1, 0, 1, 0, 0], [0, 2**23 - 1, 4660, 0, 77]
    path = fmt.write_atis_bin(tmp_path / "image_0001.bin", x, y, p, t)
    ev = read_atis_bin(path)  # y == 240 is an overflow marker: +2**13 after it, removed
    assert ev["x"].tolist() == [0, 233, 17, 5]
    assert ev["y"].tolist() == [0, 173, 9, 6]
    assert ev["p"].tolist() == [1, 0, 1, 0]
    assert ev["t"].tolist() == [0, 2**23 - 1, 4660, 77 + 2**13]
    assert len(read_atis_bin(path, handle_overflow=False)["t"]) == 5


def test_read_atis_bin_matches_spikingjelly(tmp_path, fmt, sj):
    rng = np.random.default_rng(2)
    n = 200
    x, y, p = rng.integers(0, 240, n), rng.integers(0, 180, n), rng.integers(0, 2, n)
    t = np.cumsum(rng.integers(0, 3000, n))
    path = fmt.write_atis_bin(tmp_path / "a.bin", x.tolist(), y.tolist(), p.tolist(), t.tolist())
    ours, ref = read_atis_bin(path), sj.load_ATIS_bin(str(path))
    for k in "txyp":
        np.testing.assert_array_equal(ours[k], np.asarray(ref[k]).astype(np.int64))


def test_read_atis_bin_rejects_truncated(tmp_path):
    bad = tmp_path / "t.bin"
    bad.write_bytes(bytes(12))
    with pytest.raises(DataFormatError, match="multiple of 5"):
        read_atis_bin(bad)


# ----------------------------------------------------------------------------- framing


@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("n, frames", [(500, 4), (37, 5), (10, 1)])
def test_events_to_frames_matches_loop_reference(fmt, split_by, n, frames):
    ev = fmt.random_events(n, 6, 7, seed=n + frames)
    got = events_to_frames(ev, frames, sensor_size=(6, 7), split_by=split_by)
    assert got.shape == (frames, 6, 7, 2) and got.dtype == np.float32
    np.testing.assert_array_equal(got, fmt.loop_frames(ev, frames, 6, 7, split_by))
    assert got.sum() == n


@pytest.mark.parametrize("split_by", ["number", "time"])
def test_events_to_frames_matches_spikingjelly(fmt, sj, split_by):
    ev = fmt.random_events(2000, 16, 12, seed=3)
    ref = sj.integrate_events_by_fixed_frames_number(ev, split_by, 8, 16, 12)  # [T, 2, H, W]
    got = events_to_frames(ev, 8, sensor_size=(16, 12), split_by=split_by)
    np.testing.assert_array_equal(got, np.transpose(ref, (0, 2, 3, 1)))


def test_events_to_frames_edge_cases():
    few = {"t": np.array([5, 6]), "x": np.array([0, 1]), "y": np.array([0, 0]), "p": np.array([1, 0])}
    f = events_to_frames(few, 4, (1, 2))  # N < T: all events in the last frame (SpikingJelly's rule)
    assert f[:3].sum() == 0 and f[3, 0, 0, 1] == 1 and f[3, 0, 1, 0] == 1
    gap = {"t": np.array([0, 1, 100]), "x": np.zeros(3, int), "y": np.zeros(3, int), "p": np.ones(3, int)}
    f = events_to_frames(gap, 4, (1, 1), split_by="time")  # empty middle bins give empty frames
    assert f[:, 0, 0, 1].tolist() == [2, 0, 0, 1]
    unsorted = {k: v[::-1].copy() for k, v in gap.items()}
    np.testing.assert_array_equal(events_to_frames(unsorted, 4, (1, 1), split_by="time"), f)
    empty = {k: np.zeros(0, int) for k in "txyp"}
    assert events_to_frames(empty, 3, (2, 2)).sum() == 0


def test_events_to_frames_errors():
    ev = {"t": np.arange(3), "x": np.array([0, 1, 9]), "y": np.zeros(3, int), "p": np.zeros(3, int)}
    with pytest.raises(ValueError, match="outside sensor_size"):
        events_to_frames(ev, 2, (4, 4))
    with pytest.raises(ValueError, match="split_by"):
        events_to_frames(ev, 2, (16, 16), split_by="count")
    with pytest.raises(ValueError, match="fields 't', 'x', 'y', 'p'"):
        events_to_frames({"t": np.arange(3)}, 2, (16, 16))
    with pytest.raises(ValueError, match="frames must be"):
        events_to_frames(ev, 0, (16, 16))


def test_slice_events():
    ev = {k: np.arange(10) for k in "txyp"}
    assert slice_events(ev, 3, 6)["x"].tolist() == [3, 4, 5]


def test_downsample_integer_factor_is_block_sum():
    rng = np.random.default_rng(4)
    f = rng.integers(0, 5, (3, 128, 128, 2)).astype(np.float32)
    got = downsample(f, (64, 32))
    ref = f.reshape(3, 64, 2, 32, 4, 2).sum(axis=(2, 4))
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    np.testing.assert_allclose(downsample(f, 64, reduce="mean"), f.reshape(3, 64, 2, 64, 2, 2).mean(axis=(2, 4)), rtol=1e-6)


def test_downsample_128_to_48_is_area_weighted():
    rng = np.random.default_rng(5)
    f = rng.integers(0, 4, (2, 128, 128, 2)).astype(np.float64)
    got = downsample(f, (48, 48))
    # independent check: upsample by 3 (384 = 48 * 8), block-sum 8x8, divide by the 3x3 copies
    up = f.repeat(3, axis=1).repeat(3, axis=2)
    ref = up.reshape(2, 48, 8, 48, 8, 2).sum(axis=(2, 4)) / 9.0
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    np.testing.assert_allclose(got.sum(), f.sum(), rtol=1e-6)
    with pytest.raises(ValueError, match="frames must be"):
        downsample(np.zeros(5), 2)
