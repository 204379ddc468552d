"""Evaluate a preset on a dataset: ``python -m training.evaluate <preset> <dataset>``.

    python -m training.evaluate sresnet20-mnist-t2 mnist          # a zoo name (offline, shipped)
    python -m training.evaluate runs/x/preset mnist               # a preset folder
    python -m training.evaluate hf://org/repo@v1 cifar10 --data-dir ~/tensorflow_datasets

Prints the held-out accuracy next to the one the preset states, and exits non-zero when they
differ by more than --tolerance. With ``--perturb`` it also prints the accuracy on time-reversed
sequences and with one time step dropped or duplicated, the consistency of the original and
reversed outputs and the firing rate (see ``training.probes`` for the definitions):

    python -m training.evaluate smlp-basicmotions-t20 basic_motions --perturb
"""

import argparse
import json
import os

from training import positive_float, positive_int, use_backend


def evaluate(handle, dataset, *, batch_size=256, data_dir=None, timesteps=None):
    """Held-out metrics of preset ``handle`` on ``dataset``; returns ``(measured, stated)``."""
    from training.train import evaluate_model, report_silence

    model, meta, data = _model_and_data(handle, dataset, batch_size, data_dir, timesteps)
    stated = ((meta or {}).get("metrics") or {}).get("accuracy")
    measured = evaluate_model(model, data.test, batch_size)
    report_silence(model, data.test, str(handle))
    return measured, stated


def _model_and_data(handle, dataset, batch_size, data_dir, timesteps):
    """The preset's model, its metadata and ``dataset`` shaped as the preset was trained on."""
    from keras_trt import zoo
    from training import datasets

    model = zoo.load(handle)
    meta = _metadata(handle)
    steps = timesteps or (meta or {}).get("timesteps")
    data = datasets.load(dataset, batch_size=batch_size, seed=0, augment=False, timesteps=steps,
                         data_dir=data_dir, **recipe_dataset_kwargs(meta, dataset))
    return model, meta, data


def recipe_dataset_kwargs(meta, dataset):
    """The dataset options (e.g. ``num_points``) of the recipe that trained the preset, if it
    named one and used this dataset: the held-out data must be shaped as in training."""
    name = ((meta or {}).get("extra") or {}).get("recipe") or (meta or {}).get("recipe")
    if not name:
        return {}
    from training import recipe as recipes

    try:
        recipe = recipes.get(name)
    except SystemExit:  # a recipe this checkout does not have
        return {}
    return dict(recipe.dataset_kwargs) if recipe.dataset == dataset else {}


def perturbation_report(handle, dataset, *, batch_size=256, data_dir=None, timesteps=None):
    """``training.probes.robustness`` of preset ``handle`` on ``dataset``'s held-out set."""
    from training.probes import robustness

    model, _, data = _model_and_data(handle, dataset, batch_size, data_dir, timesteps)
    inputs = None
    if getattr(data, "test_events", None) is not None:  # event data: perturb the streams too
        from training.probes import event_variants

        inputs = event_variants(data.test_events)
    return robustness(model, *data.test_arrays(), batch_size=batch_size, inputs=inputs)


def _print_perturbations(report):
    where = "the input" if report["perturbed_at"] == "input" else "the reversal point"
    print(f"temporal perturbations at {where} (accuracy, %):")
    for label, key in (("original", "accuracy"), ("time-reversed", "reversed"),
                       ("one step dropped (mean over steps)", "dropped"),
                       ("one step duplicated (mean over steps)", "duplicated")):
        print(f"  {label:<40} {100 * report[key]:.2f}")
    print(f"  original/reversed consistency: KL {report['kl']:.4f} nats, argmax agreement "
          f"{100 * report['agreement']:.2f} %")
    print(f"  firing rate (spikes per neuron and step, all LIF layers): {report['firing_rate']:.4f}")
    if "events" in report:
        from training.probes import EVENT_PERTURBATIONS

        print("event-level perturbations of the held-out streams (accuracy, %):")
        for key, label in EVENT_PERTURBATIONS:
            print(f"  {label:<40} {100 * report['events'][key]:.2f}")


def _metadata(handle):
    path = os.path.join(str(handle), "metadata.json")
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    from keras_trt import zoo
    from keras_trt.zoo import hub

    if hub.is_hf_handle(handle):  # the Hub preset's verified metadata (cached by zoo.load)
        return hub.fetch_preset(*hub.parse_hf_handle(handle), weights=False)[1]
    try:
        return zoo.info(handle, show=False)
    except Exception:  # not a registered name either: nothing stated to compare with
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("preset", help="zoo name, preset folder or hf://org/repo[@rev]")
    parser.add_argument("dataset", help="a training.datasets source, e.g. mnist, digits, mnist_points")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--data-dir")
    parser.add_argument("--timesteps", type=positive_int, help="only for temporal data without a stated T")
    parser.add_argument("--tolerance", type=positive_float, default=1e-3, help="allowed |measured - stated|")
    parser.add_argument("--perturb", action="store_true",
                        help="also report temporal perturbations, consistency and firing rate")
    args = parser.parse_args(argv)
    use_backend(args.backend)
    from keras_trt.trt.data_checks import DataError

    try:
        measured, stated = evaluate(args.preset, args.dataset, batch_size=args.batch_size,
                                    data_dir=args.data_dir, timesteps=args.timesteps)
    except DataError as err:  # the data does not fit the preset (shape, T, labels, NaN)
        raise SystemExit(f"error: {args.dataset} does not fit {args.preset}: {err}") from None
    print(f"{args.preset} on {args.dataset}: accuracy {measured['accuracy']:.4f}", end="")
    print(" (the preset states no accuracy)" if stated is None else f" (stated {stated:.4f})")
    if args.perturb:
        measured["perturbations"] = perturbation_report(
            args.preset, args.dataset, batch_size=args.batch_size, data_dir=args.data_dir,
            timesteps=args.timesteps)
        _print_perturbations(measured["perturbations"])
    if stated is None:
        return measured
    if abs(measured["accuracy"] - stated) > args.tolerance:
        raise SystemExit(f"measured accuracy differs from the stated one by more than {args.tolerance}")
    return measured


if __name__ == "__main__":
    main()
