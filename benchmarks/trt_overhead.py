"""What a TRT training step costs over the plain SNN step: measured, and counted in FLOPs.

With the default ``reverse_at="stem"`` the stem runs once per image, everything after the
:class:`~keras_trt.layers.TemporalReversal` runs for the original and the reversed batch (2B),
and the classifier scores three groups (O, O_rev, O_star: 3B). The FLOP ratio of a TRT step to
a plain step is therefore ``(F_stem + 2 F_body + 3 F_classifier) / (F_stem + F_body +
F_classifier)`` (multiply-accumulates of the convolutions and dense layers, per sample, from the
model's own layer shapes). The measured ratio is the median wall time of the compiled TRT
``train_on_batch`` over that of the plain one (``trt=None``), same model, same batch. The plain
step on a doubled batch is timed too: where a device does not scale linearly with the batch,
that is the fair yardstick for a step that must run the network on 2B.

    KERAS_BACKEND=jax python -m benchmarks.trt_overhead                 # CIFAR ResNet-18, B=32, T=2
    KERAS_BACKEND=jax python -m benchmarks.trt_overhead --arch sresnet19 --batch 16 --repeats 5

Not run by the tests (wall-clock numbers depend on the machine).
"""

import argparse
import statistics
import time

import keras_trt  # first: it sets TensorFlow's and XLA's options before Keras loads them

import keras
import numpy as np

from keras_trt import layers as trt_layers
from keras_trt import models

from benchmarks.keras_net import layer_macs


def _upstream(layer):
    """Names of the layers that feed ``layer`` (transitively)."""
    seen, stack = set(), [layer]
    while stack:
        for node in stack.pop()._inbound_nodes:
            for parent in node.parent_nodes:
                if parent.operation.name not in seen:
                    seen.add(parent.operation.name)
                    stack.append(parent.operation)
    return seen


def flop_split(model):
    """``(stem, body, classifier)`` MACs per sample: before the reversal, after it, the classifier."""
    reversal = next(l for l in model.layers if isinstance(l, trt_layers.TemporalReversal))
    before = _upstream(reversal)
    stem = body = classifier = 0
    for layer in model.layers:
        macs = layer_macs(layer)
        if layer.name == "classifier":
            classifier += macs
        elif layer.name in before:
            stem += macs
        else:
            body += macs
    return stem, body, classifier


def _interleaved_medians(steps, warmup, repeats):
    """Median seconds of each ``step()``, timed round-robin so load changes hit all alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()  # the first call compiles
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()  # train_on_batch returns host values: the step has finished
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sresnet18_cifar", help="a keras_trt.models architecture")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--timesteps", type=int, default=2)
    parser.add_argument("--image", type=int, default=32, help="input height and width")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--reverse-at", default=None, help="default: the architecture's default")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)

    kwargs = dict(num_classes=args.classes, timesteps=args.timesteps, input_shape=(args.image, args.image, 3))
    if args.reverse_at:
        kwargs["reverse_at"] = args.reverse_at
    keras.utils.set_random_seed(0)
    model = models.build(args.arch, **kwargs)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    y = rng.integers(0, args.classes, args.batch)

    stem, body, classifier = flop_split(model)
    plain_flops = stem + body + classifier
    trt_flops = stem + 2 * body + 3 * classifier

    # Two instances with the same weights: the plain SNN step and the TRT step.
    trt_model = models.build(args.arch, **kwargs)
    trt_model.set_weights(model.get_weights())
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), trt=None)
    trt_model.compile(keras.optimizers.SGD(0.01, momentum=0.9), trt=keras_trt.TRTConfig())
    # The plain step on a doubled batch too: what the network costs for 2B on this machine
    # (batch scaling is not linear on every device), the yardstick for "the reversed branch,
    # no more".
    x2, y2 = np.concatenate([x, x]), np.concatenate([y, y])
    results = _interleaved_medians(
        {
            "plain": lambda: model.train_on_batch(x, y),
            "trt": lambda: trt_model.train_on_batch(x, y),
            "plain2": lambda: model.train_on_batch(x2, y2),
        },
        args.warmup,
        args.repeats,
    )
    (plain, plain_all), (trt, trt_all), (plain2, plain2_all) = (
        results["plain"], results["trt"], results["plain2"]
    )

    print(f"backend {keras.backend.backend()}, {args.arch}, B={args.batch}, T={args.timesteps}, "
          f"{args.image}x{args.image}, {args.classes} classes, reversal after "
          f"{kwargs.get('reverse_at', 'the default point')}")
    print(f"MACs per sample: stem {stem / 1e6:.2f}M, after the reversal {body / 1e6:.2f}M, "
          f"classifier {classifier / 1e6:.4f}M")
    print(f"plain step: median {plain * 1e3:.1f} ms  ({', '.join(f'{t * 1e3:.0f}' for t in plain_all)})")
    print(f"TRT step:   median {trt * 1e3:.1f} ms  ({', '.join(f'{t * 1e3:.0f}' for t in trt_all)})")
    print(f"plain step at 2B: median {plain2 * 1e3:.1f} ms  ({', '.join(f'{t * 1e3:.0f}' for t in plain2_all)})")
    print(f"measured ratio TRT/plain: {trt / plain:.3f}   (plain at 2B / plain: {plain2 / plain:.3f}; "
          f"TRT / plain at 2B: {trt / plain2:.3f})")
    print(f"FLOP ratio TRT/plain:     {trt_flops / plain_flops:.3f}  "
          "(stem x B, after the reversal x 2B, classifier x 3B)")


if __name__ == "__main__":
    main()
