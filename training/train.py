"""Train a recipe: ``python -m training.train <recipe> [flags]``.

    python -m training.train sresnet20-mnist-t4                      # TRT, seed 0
    python -m training.train sresnet20-mnist-t4 --no-trt --seed 1    # the plain-SNN baseline
    python -m training.train sresnet20-mnist-t4 --backend torch --epochs 3 --output runs/try
    python -m training.train --list

The output folder holds ``log.csv`` (one row per epoch, with its duration), ``tensorboard/``,
``checkpoint/`` (the full training state after the last finished epoch), ``result.json`` and, at
the end, ``preset/``: the trained model in the zoo's preset format with its held-out metrics.
Run the same command again after an interruption and it resumes from the checkpoint; the final
weights equal those of an uninterrupted run on the same backend (in-memory datasets).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from training import nonnegative_int, positive_int, run_lock, use_backend, write_json


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"], help="Keras backend")
    parser.add_argument("--epochs", type=_positive_int, help="override the recipe's epochs")
    parser.add_argument("--batch-size", type=_positive_int, help="override the recipe's batch size")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--no-trt", action="store_true", help="train the plain SNN (baseline)")
    parser.add_argument("--full-trt", action="store_true", help="full TRT where the recipe's default "
                        "is a cheaper variant (its `cheap` field)")
    parser.add_argument("--output", help="output folder (default runs/<recipe>/<backend>-seed<S>[-plain])")
    parser.add_argument("--data-dir", help="dataset folder for recipes whose data must be downloaded")
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--verbose", default="auto", choices=["auto", "0", "1", "2"],
                        help="Keras fit verbosity: auto, 0, 1 or 2")
    parser.add_argument("--devices", type=positive_int, help="data parallelism over N devices (JAX, TensorFlow); "
                        "the batch size is the global batch, split evenly across them")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"],
                        help="dtype policy of the model (mixed_bfloat16: bfloat16 compute, float32 "
                        "weights; the LIF integrates in float32); default float32")
    parser.add_argument("--multi-host", action="store_true", help="data parallelism across hosts (JAX: "
                        "KERAS_DISTRIBUTION_* variables; TF: TF_CONFIG), over all their devices by default")
    return parser.parse_args(argv)


_positive_int = positive_int


def default_output(recipe_name, backend, seed, trt, precision="float32", full_trt=False):
    suffix = ("" if trt else "-plain") + ("-fulltrt" if trt and full_trt else "") + (
        "" if precision == "float32" else "-bf16")
    return Path("runs") / recipe_name / f"{backend}-seed{seed}{suffix}"


def make_optimizer(recipe, steps_per_epoch, epochs):
    import keras

    total = max(1, steps_per_epoch * epochs)
    lr = recipe.learning_rate
    if recipe.schedule == "cosine":
        warmup = steps_per_epoch * recipe.warmup_epochs
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else lr, max(1, total - warmup),
            warmup_target=lr if warmup else None, warmup_steps=warmup,
        )
    elif recipe.schedule != "constant":
        raise ValueError(f"Unknown schedule {recipe.schedule!r}: use 'cosine' or 'constant'.")
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=recipe.momentum, nesterov=True,
                                    weight_decay=recipe.weight_decay or None)
    if recipe.optimizer == "adam":
        if recipe.weight_decay:
            return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay)
        return keras.optimizers.Adam(lr)
    raise ValueError(f"Unknown optimizer {recipe.optimizer!r}: use 'adam' or 'sgd'.")


def _steps(feed):
    try:
        return len(feed)
    except TypeError:  # tf.data
        import tensorflow as tf

        n = int(feed.cardinality())
        return n if n > 0 else int(tf.data.experimental.cardinality(feed))


class CheckpointWriteError(OSError):
    """The checkpoint of an epoch could not be written (the previous one is kept)."""


def _callbacks():
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        """After every epoch: the full model (weights, optimizer state) and the epoch reached.

        Both files are written to temporary names first and then renamed, the state last; the
        state records the model file's size and time, so a resume can tell a model file that
        does not belong to its state (an interruption between the two renames).
        """

        def __init__(self, folder, state):
            super().__init__()
            self.folder, self.state = Path(folder), dict(state)

        def on_epoch_end(self, epoch, logs=None):
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp_model, tmp_state = self.folder / "model.tmp.keras", self.folder / "state.json.tmp"
            try:  # everything that can fail (a full disk) is written before anything is replaced
                self.model.save(tmp_model)
                stat = tmp_model.stat()
                tmp_state.write_text(json.dumps(dict(self.state, epoch=epoch + 1, model_bytes=stat.st_size,
                                                     model_mtime_ns=stat.st_mtime_ns), indent=2))
            except OSError as err:
                tmp_model.unlink(missing_ok=True)
                tmp_state.unlink(missing_ok=True)
                raise CheckpointWriteError(
                    f"Could not write the checkpoint after epoch {epoch + 1} to {self.folder} "
                    f"({err.strerror or err}); the checkpoint after epoch {epoch} is kept. Free "
                    "space (or fix the folder) and run the same command to resume."
                ) from err
            os.replace(tmp_model, self.folder / "model.keras")
            os.replace(tmp_state, self.folder / "state.json")

    class EpochTime(keras.callbacks.Callback):
        """Adds ``epoch_seconds`` to the logs (and so to log.csv)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = time.perf_counter() - self.start

    return EpochCheckpoint, EpochTime


def train(recipe, *, output, epochs=None, batch_size=None, seed=0, trt=True, data_dir=None,
          restart=False, verbose="auto", extra_callbacks=(), save_preset=True, devices=None,
          multi_host=False, precision="float32", full_trt=False):
    """Runs ``recipe`` and returns the result dict (also written to ``output/result.json``).

    ``devices``: train data-parallel on that many devices, ``multi_host``: across hosts (see
    ``keras_trt.distribute``). ``precision``: the model's Keras dtype policy (``"float32"`` or
    ``"mixed_bfloat16"``). A TRT run of a recipe with a ``cheap`` variant trains that variant
    (recorded as the run's ``variant``) unless ``full_trt``."""
    import keras

    if devices is not None or multi_host:
        from keras_trt import distribute

        with distribute.data_parallel(devices, batch_size=batch_size or recipe.batch_size,
                                      multi_host=multi_host):
            return train(recipe, output=output, epochs=epochs, batch_size=batch_size, seed=seed,
                         trt=trt, data_dir=data_dir, restart=restart, verbose=verbose,
                         extra_callbacks=extra_callbacks, save_preset=save_preset, precision=precision,
                         full_trt=full_trt)

    output = Path(output)
    epochs = recipe.epochs if epochs is None else epochs
    batch_size = recipe.batch_size if batch_size is None else batch_size
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
    if precision not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"precision must be 'float32' or 'mixed_bfloat16', got {precision!r}.")
    run = dict(recipe=recipe.name, seed=seed, trt=bool(trt), epochs=epochs, batch_size=batch_size,
               backend=keras.backend.backend())
    if precision != "float32":  # only then: float32 checkpoints of earlier versions still resume
        run["precision"] = precision
    if trt and recipe.cheap and not full_trt:
        from training import cheap_arms

        run["variant"] = recipe.cheap
        recipe = cheap_arms.applied(recipe, recipe.cheap, epochs)
    output.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock.locked(output):  # a second process on this folder stops here
            return _run(recipe, output, run, epochs, batch_size, seed, trt, data_dir, restart,
                        verbose, extra_callbacks, save_preset, precision)
    finally:
        if output.is_dir() and not any(output.iterdir()):
            output.rmdir()  # nothing was written (an error before the first epoch)


def _run(recipe, output, run, epochs, batch_size, seed, trt, data_dir, restart, verbose,
         extra_callbacks, save_preset, precision):
    import keras

    import keras_trt
    from training import datasets

    data = datasets.load(recipe.dataset, batch_size=batch_size, seed=seed, augment=recipe.augment,
                         timesteps=recipe.timesteps, data_dir=data_dir, **recipe.dataset_kwargs)
    _check_last_batches(data, batch_size)

    ckpt = output / "checkpoint"
    initial_epoch = 0
    if restart and ckpt.exists():
        import shutil

        shutil.rmtree(ckpt)
        (output / "log.csv").unlink(missing_ok=True)
    if (ckpt / "state.json").exists():
        state = _read_state(ckpt / "state.json")
        changed = {k: (state.get(k), v) for k, v in run.items() if state.get(k) != v}
        if state.get("precision", "float32") != precision:
            changed["precision"] = (state.get("precision", "float32"), precision)
        if changed:
            raise SystemExit(
                f"{output} holds a checkpoint of a different run ({changed}); use another "
                "--output, or --restart to discard it."
            )
        initial_epoch = state["epoch"]
        _check_model_file(ckpt, state)
        print(f"Resuming {recipe.name} from the checkpoint after epoch {initial_epoch}/{epochs}.")
    # A resumed run rebuilds the model with the same code as a fresh one, then restores weights
    # and optimizer state: the compiled step is then the very program of an uninterrupted run
    # (a model deserialised from its config traces a differently ordered program, whose float
    # rounding differs).
    keras.utils.set_random_seed(seed)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)  # layers take the policy when they are built
    try:
        model = keras_trt.models.build(
            recipe.architecture, num_classes=data.num_classes, timesteps=recipe.timesteps,
            input_shape=tuple(data.input_shape), **recipe.build,
        )
    finally:
        keras.config.set_dtype_policy(policy)
    model.compile(
        optimizer=make_optimizer(recipe, _steps(data.train), epochs),
        metrics=["accuracy"],
        trt=keras_trt.TRTConfig(**(recipe.trt or {})) if trt and recipe.trt is not None else None,
    )
    if initial_epoch:
        model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(ckpt / "model.keras")  # weights and optimizer variables
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint has the same fix
            raise SystemExit(
                f"The checkpoint {ckpt / 'model.keras'} cannot be read ({type(err).__name__}: "
                f"{err}). Run the same command with --restart to discard it and start over."
            ) from err

    output.mkdir(parents=True, exist_ok=True)
    # Rows of epochs after the checkpoint (a run stopped between its log row and its checkpoint:
    # killed, a full disk) are dropped: they are trained again now, and logged once.
    _trim_log(output / "log.csv", initial_epoch)
    EpochCheckpoint, EpochTime = _callbacks()
    callbacks = [EpochTime(), keras.callbacks.CSVLogger(str(output / "log.csv"), append=True)]
    try:
        import tensorflow  # noqa: F401  (TensorBoard summaries are written with TF)

        callbacks.append(keras.callbacks.TensorBoard(str(output / "tensorboard")))
    except ImportError:
        print("tensorflow is not installed: no TensorBoard logs.", file=sys.stderr)
    callbacks += [EpochCheckpoint(ckpt, run), *extra_callbacks]
    # The held-out set is scored after every epoch for the curves (val_* in log.csv); it never
    # selects anything: the reported model is the last epoch's.
    fit = dict(verbose=verbose, callbacks=callbacks, validation_data=data.test,
               validation_batch_size=batch_size)
    if hasattr(data.train, "epoch"):  # in memory: one fit call per epoch on that epoch's arrays
        for epoch in range(initial_epoch, epochs):
            x, y = data.train.epoch(epoch)
            model.fit(x, y, batch_size=batch_size, shuffle=False, initial_epoch=epoch,
                      epochs=epoch + 1, **fit)
    elif initial_epoch < epochs:
        model.fit(data.train, epochs=epochs, initial_epoch=initial_epoch, **fit)
    metrics = evaluate_model(model, data.test, batch_size)
    silence = report_silence(model, data.test, f"{recipe.name} ({output})")
    result = dict(run, test=metrics, dataset=data.name, architecture=recipe.architecture,
                  timesteps=recipe.timesteps, epoch_seconds=_epoch_seconds(output / "log.csv"),
                  silent=silence.silent)
    if save_preset:
        from keras_trt import zoo

        zoo.save_preset(
            model, output / "preset", dataset=data.name, timesteps=recipe.timesteps,
            metrics={"accuracy": metrics["accuracy"]}, overwrite=True, name=recipe.name,
            description=recipe.description, architecture=recipe.architecture, build=recipe.build,
            recipe=recipe.name, trained_with_trt=bool(trt), seed=seed, epochs=epochs,
            **({"trt_variant": run["variant"]} if "variant" in run else {}),
        )
    write_json(output / "result.json", result)
    how = "plain SNN" if not trt else f"TRT {run['variant']}" if "variant" in run else "TRT"
    print(f"{recipe.name}: held-out accuracy {metrics['accuracy']:.4f} ({how}, seed {seed}) -> {output}")
    return result


def _read_state(path):
    """The checkpoint's state.json, or a SystemExit naming --restart if it is damaged."""
    try:
        state = json.loads(Path(path).read_text())
        if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
            raise ValueError("no epoch count in it")
    except (OSError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise SystemExit(
            f"The checkpoint state {path} is damaged ({type(err).__name__}: {err}). Run the "
            "same command with --restart to discard the checkpoint and start over."
        ) from err
    return state


def _check_model_file(ckpt, state):
    """SystemExit naming --restart if model.keras is not the file state.json was written with."""
    if "model_bytes" not in state:  # a checkpoint of an earlier version: nothing recorded
        return
    try:
        stat = (ckpt / "model.keras").stat()
    except OSError:
        stat = None
    if stat is None or (stat.st_size, stat.st_mtime_ns) != (state["model_bytes"], state.get("model_mtime_ns")):
        raise SystemExit(
            f"The checkpoint in {ckpt} is inconsistent: model.keras is not the file state.json "
            f"(epoch {state['epoch']}) was written with (a run stopped between the two). Run the "
            "same command with --restart to discard it and start over."
        )


def _trim_log(path, epochs_done):
    """Keeps the header and the rows of epochs < ``epochs_done`` of a Keras CSVLogger file."""
    import csv

    path = Path(path)
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "epoch" not in rows[0]:
        return
    column = rows[0].index("epoch")
    kept = [r for r in rows[1:] if len(r) > column and r[column].isdigit() and int(r[column]) < epochs_done]
    if len(kept) == len(rows) - 1:
        return
    if not kept:
        path.unlink()
        return
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows([rows[0], *kept])
    os.replace(tmp, path)


def _interrupted_message(output):
    """One line for Ctrl-C: which checkpoint is kept and how to resume."""
    state_file = Path(output) / "checkpoint" / "state.json"
    try:
        epoch = json.loads(state_file.read_text())["epoch"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"Interrupted before the first epoch ended: nothing was saved in {output}."
    return (f"Interrupted: the checkpoint after epoch {epoch} is kept in {state_file.parent}; "
            "run the same command to resume.")


def _check_last_batches(data, batch_size):
    from keras_trt import distribute

    if hasattr(data.train, "epoch") and distribute.process_count() > 1:
        raise distribute.DistributeError(
            f"{data.name} is held in memory, and every host would feed all of it: multi-host "
            "training is for the tf.data recipes (ImageNet, CIFAR, DVS, ModelNet40). Train "
            "in-memory recipes on one host (--devices N)."
        )
    # In-memory sets whose last batch does not split across the devices are padded with
    # zero-weight copies by TRTModel.fit/evaluate (keras_trt.distribute.even_batches).


def evaluate_model(model, test, batch_size):
    """``model.evaluate`` on ``(x, y)`` arrays or a tf.data set; floats by metric name."""
    if isinstance(test, tuple):
        logs = model.evaluate(*test, batch_size=batch_size, verbose=0, return_dict=True)
    else:
        logs = model.evaluate(test, verbose=0, return_dict=True)
    return {k: float(v) for k, v in logs.items()}


def sample_inputs(test, count=256):
    """Up to ``count`` held-out inputs from ``(x, y)`` arrays or a batched tf.data set."""
    if isinstance(test, tuple):
        return test[0][:count]
    import numpy as np

    parts, total = [], 0
    for batch in test.as_numpy_iterator():
        parts.append(batch[0])
        total += len(batch[0])
        if total >= count:
            break
    return np.concatenate(parts)[:count]


def report_silence(model, test, context):
    """Prints a warning naming the causes and the fix if the model is silent at inference."""
    from keras_trt import diagnostics

    report = diagnostics.check_silence(model, sample_inputs(test))
    if report.silent:
        print(f"WARNING: {context}: {report.message}", file=sys.stderr)
    return report


def _epoch_seconds(log_path):
    import csv

    if not Path(log_path).exists():
        return []
    with open(log_path) as f:
        return [float(row["epoch_seconds"]) for row in csv.DictReader(f) if row.get("epoch_seconds")]


def main(argv=None):
    args = _parse(argv)
    use_backend(args.backend)
    from training import recipe as recipes

    if args.list or not args.recipe:
        for name in recipes.available():
            r = recipes.get(name)
            print(f"{name:<28} {r.architecture:<14} {r.dataset:<14} T={r.timesteps:<3} "
                  f"{'runs on a CPU with embedded data' if r.runs_here else 'needs the dataset and a GPU'}")
        return None
    recipe = recipes.get(args.recipe)
    import keras

    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
    if args.full_trt and args.no_trt:
        raise SystemExit("error: --full-trt and --no-trt exclude each other (--no-trt trains the plain SNN).")
    if args.full_trt and not recipe.cheap:
        raise SystemExit(f"error: --full-trt: {recipe.name} trains full TRT already; drop the flag.")
    output = args.output or default_output(recipe.name, keras.backend.backend(), args.seed, not args.no_trt,
                                           args.precision, args.full_trt)
    from keras_trt.distribute import DistributeError

    try:
        return train(recipe, output=output, epochs=args.epochs, batch_size=args.batch_size,
                     seed=args.seed, trt=not args.no_trt, data_dir=args.data_dir,
                     restart=args.restart, verbose=verbose, devices=args.devices,
                     multi_host=args.multi_host, precision=args.precision, full_trt=args.full_trt)
    except DistributeError as err:  # before training starts
        raise SystemExit(f"error: {err}") from None
    except CheckpointWriteError as err:
        raise SystemExit(f"error: {err}") from None
    except ValueError as err:
        from keras_trt.trt.data_checks import DataError

        if isinstance(err, DataError):  # the recipe's data, refused before a step ran on it
            raise SystemExit(f"error: {err}") from None
        raise
    except OSError as err:  # a failed write elsewhere (log.csv, TensorBoard, the preset)
        raise SystemExit(f"error: writing to {output} failed ({err}). "
                         + _interrupted_message(output).replace("Interrupted: ", "")) from None
    except KeyboardInterrupt:
        print(_interrupted_message(output), file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
