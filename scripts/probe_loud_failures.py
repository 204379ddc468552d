"""Probe of issue 22's cases, tried as a user would (not a test).

    python scripts/probe_loud_failures.py            # every backend, each in a fresh process, plus the CLI cases
Prints a table: case | backend | outcome | first line of the message.
Outcomes: LOUD (an error whose first line names the problem), OK (handled correctly),
SILENT (returned normally with a wrong result), UNCLEAR (an error that does not name it).
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = f"{ROOT}/.venv/bin/python"


def _smlp():
    """The probes' model: a small TRT spiking MLP on [B, 6, 5] series, 3 classes, seed 0."""
    import keras
    import keras_trt

    keras.utils.set_random_seed(0)
    m = keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)
    m.compile("adam", metrics=["accuracy"], trt=True)
    return m


def model_cases():
    import numpy as np
    import keras
    import keras_trt
    import tensorflow as tf
    from keras_trt import analysis, diagnostics, zoo

    rows = []
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 5)).astype("float32")
    y = rng.integers(0, 3, 32)

    build = _smlp

    def case(name, fn, expect_error, keys=(), check=None):
        try:
            result = fn()
        except BaseException as err:  # noqa: BLE001
            first = (str(err).splitlines() or [""])[0] or type(err).__name__
            if expect_error and all(k.lower() in first.lower() for k in keys):
                rows.append((name, "LOUD", f"{type(err).__name__}: {first}"))
            else:
                rows.append((name, "UNCLEAR", f"{type(err).__name__}: {first}"))
            return
        if expect_error:
            rows.append((name, "SILENT", f"returned {str(result)[:100]}"))
        elif check is None or check(result):
            rows.append((name, "OK", str(result)[:110]))
        else:
            rows.append((name, "SILENT", f"wrong result {str(result)[:100]}"))

    # First in the fresh process: a wrong call, then the right call, then fit.
    m = build()
    case("wrong T first call (predict)", lambda: m.predict(x[:, :5], verbose=0), True, ("T=6", "5 steps"))
    case("  ... then the right predict", lambda: m.predict(x, verbose=0).shape, False, check=lambda r: r == (32, 3))
    case("  ... then fit", lambda: m.fit(x, y, epochs=1, verbose=0).history["loss"][0], False,
         check=lambda r: np.isfinite(r))
    m = build()
    case("wrong rank first call (fit)", lambda: m.fit(x[:, 0], y, verbose=0), True, ("rank 3", "T=6"))
    case("  ... then fit", lambda: m.fit(x, y, epochs=1, verbose=0).history["loss"][0], False,
         check=lambda r: np.isfinite(r))
    m.fit(x, y, epochs=1, verbose=0)
    case("wrong T after a fit (TF retrace)", lambda: m.fit(x[:, :5], y, verbose=0), True, ("T=6",))
    nan = x.copy(); nan[7, 2, 1] = np.nan
    inf = x.copy(); inf[7, 2, 1] = np.inf
    case("evaluate NaN inputs", lambda: m.evaluate(nan, y, verbose=0), True, ("NaN",))
    case("evaluate Inf inputs", lambda: m.evaluate(inf, y, verbose=0), True, ("NaN/Inf",))
    case("predict NaN inputs", lambda: m.predict(nan, verbose=0), True, ("NaN",))
    case("evaluate labels out of range", lambda: m.evaluate(x, y + 3, verbose=0), True, ("outside [0, 3)",))
    case("fit inputs x 1e30", lambda: m.fit(x * 1e30, y, verbose=0), True, ("magnitude", "Rescale"))
    case("evaluate inputs x 1e30", lambda: m.evaluate(x * 1e30, y, verbose=0), True, ("magnitude",))
    case("evaluate 0 samples", lambda: m.evaluate(x[:0], y[:0], verbose=0), True, ("no data",))
    case("fit empty tf.data", lambda: m.fit(tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(4), verbose=0),
         True, ("no data",))
    case("evaluate empty generator", lambda: m.evaluate((b for b in []), verbose=0), True, ("no data",))
    case("predict 0 samples", lambda: m.predict(x[:0], verbose=0).shape, False, check=lambda r: r == (0, 3))
    late = tf.data.Dataset.from_tensor_slices((nan, y)).batch(4)  # NaN in batch 1 (sample 7)
    late2 = x.copy(); late2[30, 0, 0] = np.nan
    case("fit tf.data NaN in last batch", lambda: m.fit(tf.data.Dataset.from_tensor_slices((late2, y)).batch(4), verbose=0),
         True, ("batch 7", "NaN"))

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return late2[4 * i: 4 * i + 4], y[4 * i: 4 * i + 4]

    case("evaluate PyDataset NaN in last batch", lambda: m.evaluate(Batches(), verbose=0), True, ("batch 7",))
    case("  ... model usable after (fit)", lambda: m.fit(x, y, epochs=1, verbose=0).history["loss"][0], False,
         check=lambda r: np.isfinite(r))
    case("analysis.profile NaN", lambda: analysis.profile(m, nan), True, ("NaN",))
    before = [w.copy() for w in m.get_weights()]
    case("recalibrate_batch_norm NaN", lambda: diagnostics.recalibrate_batch_norm(m, nan), True, ("NaN",))
    case("  ... weights unchanged", lambda: all(np.array_equal(a, b) for a, b in zip(before, m.get_weights())),
         False, check=bool)
    case("check_silence NaN", lambda: diagnostics.check_silence(m, nan), True, ("NaN",))
    case("check_silence constant input", lambda: diagnostics.check_silence(m, np.repeat(x[:1], 32, 0)), True,
         ("identical inputs", "input problem"))
    case("check_silence zero input", lambda: diagnostics.check_silence(m, np.zeros_like(x)), True,
         ("all zero", "input problem"))
    big = keras_trt.models.build("smlp", input_shape=(20, 6), hidden=(8,), num_classes=4)
    out = tempfile.mkdtemp()
    case("save_preset timesteps=7 for T=20", lambda: zoo.save_preset(big, out + "/p", timesteps=7), True,
         ("timesteps=7", "T is 20"))
    return rows


def distributed_cases():
    import numpy as np
    import keras
    import keras_trt
    from keras_trt import distribute

    rows = []
    with distribute.data_parallel(2):  # first, as the TF error says (the CPU splits only then)
        pass
    rng = np.random.default_rng(0)
    x = rng.normal(size=(45, 6, 5)).astype("float32")
    y = rng.integers(0, 3, 45)

    build = _smlp

    one = build()
    ref = one.evaluate(x[:41], y[:41], batch_size=8, verbose=0)
    with distribute.data_parallel(2):
        m = build()
        m.set_weights(one.get_weights())
        for name, fn, check in (
            ("2 devices: fit 45 samples, batch 8", lambda: m.fit(x, y, batch_size=8, verbose=0).history["loss"][0],
             np.isfinite),
            ("2 devices: evaluate 41 held-out = 1 device", lambda: m.evaluate(x[:41], y[:41], batch_size=8, verbose=0),
             None),
            ("2 devices: predict 41", lambda: m.predict(x[:41], batch_size=8, verbose=0).shape, lambda r: r == (41, 3)),
            ("2 devices: fit with validation_data of 41",
             lambda: m.fit(x[:44], y[:44], batch_size=8, verbose=0, validation_data=(x[:41], y[:41])).history["val_loss"][0],
             np.isfinite),
        ):
            if "evaluate" in name:
                m2 = build(); m2.set_weights(one.get_weights())
                fn = lambda m2=m2: m2.evaluate(x[:41], y[:41], batch_size=8, verbose=0)  # noqa: E731
                check = lambda r: np.allclose(r, ref, rtol=1e-5)  # noqa: E731
            try:
                r = fn()
                rows.append((name, "OK" if check(r) else "SILENT", str(r)[:110]))
            except BaseException as err:  # noqa: BLE001
                rows.append((name, "UNCLEAR", f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]}"))
        try:
            m.fit(x, y, batch_size=7, verbose=0)
            rows.append(("2 devices: batch 7", "SILENT" if keras.backend.backend() == "jax" else "OK", "trained"))
        except BaseException as err:  # noqa: BLE001
            first = str(err).splitlines()[0]
            rows.append(("2 devices: batch 7", "LOUD" if "multiple of 2" in first else "UNCLEAR", first[:200]))
        if keras.backend.backend() == "jax":
            try:
                m.fit(x, y, batch_size=8, verbose=0, last_batch="error")
                rows.append(("2 devices: last_batch='error'", "SILENT", "trained"))
            except BaseException as err:  # noqa: BLE001
                first = str(err).splitlines()[0]
                rows.append(("2 devices: last_batch='error'", "LOUD" if "44 or 46" in first else "UNCLEAR", first[:200]))
    with distribute.data_parallel(2):
        again = build()
        try:
            loss = again.fit(x, y, batch_size=8, verbose=0).history["loss"][0]
            rows.append(("second distributed fit in one process", "OK" if np.isfinite(loss) else "SILENT", f"loss {loss:.4f}"))
        except BaseException as err:  # noqa: BLE001
            rows.append(("second distributed fit in one process", "UNCLEAR", str(err).splitlines()[0][:200]))
    return rows


def late_split_case():
    import keras_trt
    from keras_trt import distribute

    keras_trt.models.build("smlp", input_shape=(6, 5), hidden=(8, 8), num_classes=3)(__import__("numpy").zeros((2, 6, 5), "float32"))
    try:
        with distribute.data_parallel(2):
            pass
        return [("one-device model, then data_parallel(2)", "OK", "works")]
    except BaseException as err:  # noqa: BLE001
        first = str(err).splitlines()[0]
        return [("one-device model, then data_parallel(2)", "LOUD" if "enter distribute.data_parallel(2) before" in first else "UNCLEAR", first)]


def run_cli(args, env=None, timeout=900):
    e = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run([PY, *args], cwd=ROOT, env=e, capture_output=True, text=True, timeout=timeout)


def first_error_line(text):
    lines = [l for l in text.splitlines() if l.strip() and not l.startswith(("WARNING", "I0000", "E0000", "W0000"))
             and "oneDNN" not in l and "absl" not in l]
    for l in lines:
        if "error" in l.lower() or "Error" in l:
            return l.strip()
    return lines[-1].strip() if lines else ""


def cli_cases():
    rows = []
    work = tempfile.mkdtemp()
    for args, want in ((["-m", "training.compare", "smlp-basicmotions-t20", "--epochs", "0"], "--epochs: must be a whole number >= 1"),
                       (["-m", "training.train", "smlp-basicmotions-t20", "--epochs", "2.5"], "--epochs: must be a whole number"),
                       (["-m", "training.train", "smlp-basicmotions-t20", "--devices", "zero"], "--devices: must be a whole number"),
                       (["-m", "training.evaluate", "smlp-basicmotions-t20", "basic_motions", "--batch-size", "0"], "--batch-size: must be")):
        p = run_cli(args)
        line = first_error_line(p.stderr)
        rows.append((" ".join(args[1:]), "LOUD" if p.returncode == 2 and want in p.stderr else "UNCLEAR", line))
    # Two processes on one run folder.
    out = f"{work}/run"
    env = dict(os.environ, PYTHONPATH=ROOT, KERAS_BACKEND="jax")
    a = subprocess.Popen([PY, "-m", "training.train", "scnn-digits-t4", "--epochs", "2", "--output", out, "--verbose", "0"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time

    for _ in range(600):
        if os.path.exists(f"{out}/training.lock"):
            break
        time.sleep(0.1)
    b = run_cli(["-m", "training.train", "scnn-digits-t4", "--epochs", "2", "--output", out, "--verbose", "0"],
                env={"KERAS_BACKEND": "jax"})
    a.communicate(timeout=900)
    line = first_error_line(b.stderr)
    rows.append(("train: 2nd process on the same run folder", "LOUD" if b.returncode and "is being trained by" in b.stderr else "SILENT", line))
    with open(f"{out}/log.csv") as f:
        epochs = [l.split(",")[0] for l in f.read().splitlines()[1:]]
    rows.append(("train: log.csv epochs after both", "OK" if epochs == ["0", "1"] else "SILENT", " ".join(epochs)))
    # A full disk at the second checkpoint, then the same command again.
    code = (
        "import errno, sys, keras\nfrom pathlib import Path\nfrom training import train\n"
        "real = keras.Model.save\nn = [0]\n"
        "def save(self, path, *a, **k):\n"
        "    if Path(path).name == 'model.tmp.keras':\n        n[0] += 1\n"
        "        if n[0] == 2: raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "    return real(self, path, *a, **k)\n"
        "keras.Model.save = save\n"
        "train.main(['scnn-digits-t4', '--epochs', '3', '--output', sys.argv[1], '--verbose', '0'])\n")
    out2 = f"{work}/full"
    p = run_cli(["-c", code, out2], env={"KERAS_BACKEND": "jax"})
    rows.append(("train: full disk at epoch 2's checkpoint", "LOUD" if p.returncode == 1 and "No space left" in p.stderr else "UNCLEAR",
                 first_error_line(p.stderr)))
    p = run_cli(["-m", "training.train", "scnn-digits-t4", "--epochs", "3", "--output", out2, "--verbose", "0"],
                env={"KERAS_BACKEND": "jax"})
    with open(f"{out2}/log.csv") as f:
        epochs = [l.split(",")[0] for l in f.read().splitlines()[1:]]
    secs = json.load(open(f"{out2}/result.json"))["epoch_seconds"]
    rows.append(("train: resume after the full disk", "OK" if epochs == ["0", "1", "2"] and len(secs) == 3 else "SILENT",
                 f"log.csv epochs {' '.join(epochs)}; result.json {len(secs)} epoch_seconds"))
    # A registered custom surrogate that was not imported.
    sur = tempfile.mkdtemp()
    open(f"{sur}/mysur.py", "w").write(
        "import keras\nfrom keras import ops\nfrom keras_trt import surrogates\n"
        "@keras.saving.register_keras_serializable(package='my_project')\n"
        "class FastSigmoid(surrogates.Surrogate):\n    def primitive(self, x):\n        return ops.sigmoid(4 * x)\n")
    save = ("import sys, keras, keras_trt\nsys.path.insert(0, sys.argv[1])\nimport mysur\n"
            "x = keras.Input((4, 3)); h = keras_trt.layers.LIF(surrogate=mysur.FastSigmoid())(x)\n"
            "h = keras.layers.GlobalAveragePooling1D()(h)\n"
            "keras_trt.TRTModel(x, keras.layers.Dense(2, name='classifier')(h)).save(sys.argv[1] + '/m.keras')\n")
    run_cli(["-c", save, sur], env={"KERAS_BACKEND": "jax"})
    for backend in ("jax", "tensorflow", "torch"):
        p = run_cli(["-c", "import sys, keras, keras_trt\nkeras.saving.load_model(sys.argv[1] + '/m.keras')", sur],
                    env={"KERAS_BACKEND": backend})
        errs = [l for l in p.stderr.splitlines() if "Error:" in l]
        line = errs[-1] if errs else ""
        rows.append((f"load: unimported custom surrogate [{backend}]",
                     "LOUD" if "FastSigmoid" in line and "import mysur" in line else "UNCLEAR", line[:200]))
    return rows


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        rows = {"dist": distributed_cases, "late": late_split_case}.get(sys.argv[2], model_cases)()
        print("ROWS" + json.dumps(rows))
        return
    table = []
    only_dist = "--dist-only" in sys.argv
    for backend in () if only_dist else ("tensorflow", "jax", "torch"):
        p = run_cli([__file__, "--inner", "model"], env={"KERAS_BACKEND": backend})
        rows = next((json.loads(l[4:]) for l in p.stdout.splitlines() if l.startswith("ROWS")), None)
        if rows is None:
            table.append(("model cases", backend, "CRASH", p.stderr[-300:]))
            continue
        table += [(c, backend, o, msg) for c, o, msg in rows]
    for backend in ("tensorflow", "jax"):
        env = {"KERAS_BACKEND": backend, "JAX_NUM_CPU_DEVICES": "2",
               "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
        p = run_cli([__file__, "--inner", "dist"], env=env)
        rows = next((json.loads(l[4:]) for l in p.stdout.splitlines() if l.startswith("ROWS")), None)
        if rows is None:
            table.append(("distributed cases", backend, "CRASH", p.stderr[-300:]))
            continue
        table += [(c, backend, o, msg) for c, o, msg in rows]
    p = run_cli([__file__, "--inner", "late"], env={"KERAS_BACKEND": "tensorflow"})
    rows = next((json.loads(l[4:]) for l in p.stdout.splitlines() if l.startswith("ROWS")), [])
    table += [(c, "tensorflow", o, msg) for c, o, msg in rows]
    p = run_cli(["-m", "training.evaluate", "smlp-basicmotions-t20", "japanese_vowels"], env={"KERAS_BACKEND": "jax"})
    line = first_error_line(p.stderr)
    table.append(("training.evaluate: preset on a dataset of another shape", "jax",
                  "LOUD" if p.returncode and "does not fit" in line else "UNCLEAR", line))
    if not only_dist:
        table += [(c, "cli (jax)" if "load:" not in c else "-", o, msg) for c, o, msg in cli_cases()]
    print("| case | backend | outcome | first line of the message |")
    print("|---|---|---|---|")
    for c, b, o, msg in table:
        print(f"| {c} | {b} | {o} | {str(msg).replace('|', '/')[:220]} |")
    bad = [r for r in table if r[2] not in ("OK", "LOUD")]
    print(f"\n{len(table)} cases, {len(bad)} silent/unclear/crashed")


if __name__ == "__main__":
    main()
