"""Estimate a recipe's memory per device and time per epoch on GPUs from a small measured run.

    KERAS_BACKEND=jax python -m training.estimate sresnet34-imagenet-t2 --devices 8

What is measured here (on any machine, CPU included): XLA compiles the recipe's real TRT
training step (``TRTModel.train_step`` with its optimizer) for two small per-device batches; its
buffer assignment gives the memory of the step (weights, optimizer state and activations) and
its cost analysis the FLOPs and bytes accessed per image. Memory is linear in the batch, so the
two points extrapolate to the recipe's per-device batch; one step is also timed on this machine.

What is assumed: the GPU's throughput. Time per image is taken as a roofline sum,
``flops / (peak * efficiency) + bytes / (bandwidth * efficiency)`` (spiking networks spend much
of their time in element-wise, memory-bound ops), with the defaults of an A100 80GB in TF32
(156 TFLOP/s, 2039 GB/s) at 40% efficiency; pass your GPU's numbers. The input pipeline is
assumed not to be the bottleneck. XLA's CPU and GPU compilers fuse differently, so treat the
results as estimates (say +-30%), to be checked against the first epochs' ``epoch_seconds``.
"""

import argparse
import json
import os
import time

import numpy as np

from training import positive_float, positive_int

IMAGENET_TRAIN = 1_281_167


def _compiled_step(model, x, y):
    import jax

    state = model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                 optimizer_variables=True, metrics_variables=True)
    return jax.jit(model.train_step).lower(state, (x, y)).compile()


def measure(recipe, batches=(1, 2), seed=0, input_shape=None, num_classes=None):
    """Per-device batch -> ``{"bytes": step memory, "flops": .., "bytes_accessed": ..}`` of the
    compiled TRT training step, plus the measured seconds of one step at the first batch."""
    import keras

    import keras_trt
    from training.train import make_optimizer

    if keras.backend.backend() != "jax":
        raise SystemExit("The estimate reads XLA's analyses: run it with KERAS_BACKEND=jax.")
    keras.utils.set_random_seed(seed)
    shape = tuple(input_shape or recipe.build.get("input_shape") or (224, 224, 3))
    classes = num_classes or recipe.build.get("num_classes") or 1000
    build = {k: v for k, v in recipe.build.items() if k not in ("input_shape", "num_classes")}
    model = keras_trt.models.build(recipe.architecture, num_classes=classes,
                                   timesteps=recipe.timesteps, input_shape=shape, **build)
    model.compile(optimizer=make_optimizer(recipe, 100, 1),
                  trt=keras_trt.TRTConfig(**(recipe.trt or {})) if recipe.trt is not None else None)
    rng = np.random.default_rng(seed)
    out = {}
    for i, b in enumerate(batches):
        x = rng.normal(size=(b, *shape)).astype("float32")
        y = rng.integers(0, classes, size=(b,))
        if i == 0:
            model.train_on_batch(x, y)  # builds the optimizer and metrics, compiles
            start = time.perf_counter()
            model.train_on_batch(x, y)
            step_seconds = time.perf_counter() - start
        compiled = _compiled_step(model, x, y)
        mem = compiled.memory_analysis()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        out[b] = dict(
            bytes=int(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                      - mem.alias_size_in_bytes),
            flops=float(cost.get("flops", 0.0)), bytes_accessed=float(cost.get("bytes accessed", 0.0)),
        )
    return dict(per_batch=out, step_seconds=step_seconds, parameters=model.count_params(),
                batches=list(batches), input_shape=list(shape), timesteps=recipe.timesteps)


def extrapolate(measured, *, global_batch, devices, train_images, peak_tflops, bandwidth_gbs, efficiency):
    """Memory per device at ``global_batch / devices`` and seconds per epoch on ``devices`` GPUs."""
    (b1, m1), (b2, m2) = sorted(measured["per_batch"].items())[:2]
    per_image = (m2["bytes"] - m1["bytes"]) / (b2 - b1)
    fixed = m1["bytes"] - per_image * b1
    per_device = global_batch // devices
    flops = (m2["flops"] - m1["flops"]) / (b2 - b1)
    traffic = (m2["bytes_accessed"] - m1["bytes_accessed"]) / (b2 - b1)
    seconds_per_image = (flops / (peak_tflops * 1e12) + traffic / (bandwidth_gbs * 1e9)) / efficiency
    return dict(
        per_device_batch=per_device,
        memory_fixed_gib=fixed / 2**30, memory_per_image_gib=per_image / 2**30,
        memory_per_device_gib=(fixed + per_image * per_device) / 2**30,
        gflops_per_image=flops / 1e9, gbytes_accessed_per_image=traffic / 1e9,
        seconds_per_epoch=train_images * seconds_per_image / devices,
        assumptions=dict(peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs, efficiency=efficiency,
                         train_images=train_images, devices=devices, global_batch=global_batch),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.estimate", description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--devices", type=positive_int, default=8)
    parser.add_argument("--batch-size", type=positive_int, help="global batch (default: the recipe's)")
    parser.add_argument("--measure-batches", type=positive_int, nargs=2, default=(1, 2))
    parser.add_argument("--train-images", type=positive_int, default=IMAGENET_TRAIN)
    parser.add_argument("--peak-tflops", type=positive_float, default=156.0, help="per GPU (A100 TF32: 156)")
    parser.add_argument("--bandwidth-gbs", type=positive_float, default=2039.0, help="per GPU (A100 80GB: 2039)")
    parser.add_argument("--efficiency", type=positive_float, default=0.4)
    parser.add_argument("--output", help="write the measurement and estimate as JSON here")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from training import recipe as recipes

    recipe = recipes.get(args.recipe)
    measured = measure(recipe, batches=tuple(args.measure_batches))
    estimate = extrapolate(measured, global_batch=args.batch_size or recipe.batch_size, devices=args.devices,
                           train_images=args.train_images, peak_tflops=args.peak_tflops,
                           bandwidth_gbs=args.bandwidth_gbs, efficiency=args.efficiency)
    result = dict(recipe=recipe.name, measured=measured, estimate=estimate)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
