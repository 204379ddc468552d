"""The README's main job: TRT versus the plain SNN on scikit-learn's digits (no downloads).

Trains the same small spiking CNN twice from the same initial weights, once with Temporal
Reversed Training and once without, and prints the held-out test accuracy of each. Then loads a
pretrained model from the zoo by name (shipped in the package, no network) and re-measures its
accuracy on its own held-out data.

    python -m training.quickstart                 # defaults: T=4, 20 epochs, seeds 0 1 2
    python -m training.quickstart --epochs 5 --seeds 0
    KERAS_BACKEND=torch python -m training.quickstart
"""

import argparse
import time

import keras_trt  # first: it sets TensorFlow's and XLA's options before Keras loads them

import keras
import numpy as np

from keras_trt.data import load_digits
from keras_trt.models import spiking_cnn
from training import nonnegative_int, positive_int


def train_and_evaluate(data, *, trt, timesteps, epochs, batch_size, seed, verbose):
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)  # same initial weights and batches for both runs
    model = spiking_cnn(x_train.shape[1:], 10, timesteps=timesteps)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, epochs * (len(x_train) // batch_size + 1))),
        metrics=["accuracy"],
        trt=keras_trt.TRTConfig() if trt else None,
    )
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    seconds = time.perf_counter() - start
    accuracy = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    return accuracy, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=positive_int, default=20)
    parser.add_argument("--timesteps", type=positive_int, default=4)
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--seeds", type=nonnegative_int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2], help="Keras fit verbosity (0, 1, 2)")
    args = parser.parse_args(argv)

    data = load_digits()
    print(
        f"keras-trt {keras_trt.__version__} | backend {keras.backend.backend()} | digits: "
        f"{len(data[0][0])} train / {len(data[1][0])} test images | T={args.timesteps}, "
        f"{args.epochs} epochs"
    )
    results = {"TRT": [], "plain SNN": []}
    for seed in args.seeds:
        for label, trt in (("TRT", True), ("plain SNN", False)):
            print(f"--- {label}, seed {seed}")
            acc, secs = train_and_evaluate(
                data, trt=trt, timesteps=args.timesteps, epochs=args.epochs,
                batch_size=args.batch_size, seed=seed, verbose=args.verbose,
            )
            results[label].append((acc, secs))
    print(f"\nheld-out test accuracy (digits, {len(data[1][0])} images)")
    for label, runs in results.items():
        accs = np.array([a for a, _ in runs]) * 100
        secs = np.mean([s for _, s in runs])
        spread = f" ± {accs.std(ddof=1):.2f}" if len(accs) > 1 else ""
        print(f"  {label:<10} {accs.mean():6.2f}%{spread}  ({len(accs)} seed(s), {secs:.0f} s training each)")
    zoo_check()
    return results


def zoo_check(name="smlp-basicmotions-t20", dataset="basic_motions"):
    """Loads a zoo model by name, offline, and re-measures its stated held-out accuracy."""
    from training.evaluate import evaluate

    measured, stated = evaluate(name, dataset)
    print(f"\nzoo model {name!r} (loaded by name, offline): held-out accuracy "
          f"{measured['accuracy'] * 100:.2f}% (its card states {stated * 100:.2f}%)")
    return measured, stated


if __name__ == "__main__":
    main()
