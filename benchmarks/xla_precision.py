"""In which precision XLA really runs a model's training step on the JAX backend.

Under Keras' ``mixed_bfloat16`` policy the traced program asks for bfloat16 convolutions, but the
compiler may rewrite them: XLA's CPU backend (jaxlib 0.10.2) converts every bfloat16 convolution
to float32 around the call, so a bfloat16 JAX step does float32 convolution work plus the
conversions and gains little over float32 there (the element-wise ops move half the bytes). This module counts, in one compiled gradient step, the
convolutions and dot products by their result precision before and after XLA's optimisation,
and the ``convert`` ops the compiler added::

    python -m benchmarks.xla_precision                      # the benchmark's ResNet-18, T=2, B=32
    python -m benchmarks.xla_precision --policy float32

On the AMD Zen 5 of 2026-12-05: ``mixed_bfloat16`` traced 59 bfloat16 convolutions, the compiled
step ran 59 float32 convolutions with 468 conversions (JAX bf16 training took 1.47x SpikingJelly's
bfloat16 step in that day's benchmark, 0.724 s against JAX float32's 0.779 s in another run).
"""

import argparse
import collections
import os
import re

#: An HLO instruction's result element type and opcode, e.g. ``= bf16[32,64]{1,0} convolution(``.
_INSTRUCTION = re.compile(r"= (\w+)\[[^\]]*\](?:\{[^}]*\})? (convolution|dot)\(")
#: The same in StableHLO text (before optimisation): ``stablehlo.convolution(...) ... -> tensor<...xbf16>``.
_STABLEHLO = re.compile(r"stablehlo\.(convolution|dot_general)\b.*-> tensor<(?:[0-9?]+x)*(\w+)>")


def census(traced_text, compiled_text):
    """``{"traced": Counter((op, dtype)), "compiled": Counter((op, dtype)), "converts": n}`` for the
    StableHLO of a lowered function and the HLO of its compiled form.

    >>> census('%0 = stablehlo.convolution(%a, %b) ... -> tensor<2x4x4x8xbf16>',
    ...        '%c = f32[2,4,4,8]{3,2,1,0} convolution(%x, %y), window={size=3x3}\\n%d = f32[8] convert(%e)')
    {'traced': {('convolution', 'bf16'): 1}, 'compiled': {('convolution', 'f32'): 1}, 'converts': 1}
    """
    traced = collections.Counter(
        ("dot" if op == "dot_general" else op, dtype) for op, dtype in _STABLEHLO.findall(traced_text))
    compiled = collections.Counter((op, dtype) for dtype, op in _INSTRUCTION.findall(compiled_text))
    return {"traced": dict(traced), "compiled": dict(compiled),
            "converts": len(re.findall(r" convert\(", compiled_text))}


def training_step_census(model, x, y):
    """:func:`census` of the gradient of ``model``'s cross-entropy at ``(x, y)`` in training mode
    (the work of a training step), compiled by ``jax.jit``. JAX backend only."""
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError("benchmarks.xla_precision reads XLA's compiled program: run it with "
                           "KERAS_BACKEND=jax.")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss_fn(trainable, non_trainable, x, y):
        out, _ = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss(y, out)

    lowered = jax.jit(jax.grad(loss_fn)).lower([v.value for v in model.trainable_variables],
                                               [v.value for v in model.non_trainable_variables], x, y)
    return census(lowered.as_text(), lowered.compile().as_text())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.xla_precision", description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="mixed_bfloat16", help="Keras dtype policy (default mixed_bfloat16)")
    parser.add_argument("--timesteps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"
    import keras_trt  # noqa: F401  (before Keras: XLA's CPU options)

    import keras
    import numpy as np

    from benchmarks import keras_net
    from benchmarks.common import IMAGE, NUM_CLASSES

    keras.config.set_dtype_policy(args.policy)
    model = keras_net.build(args.timesteps)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch,) + IMAGE, dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, args.batch)
    result = training_step_census(model, x, y)
    print(f"{keras_net.ARCH}, T={args.timesteps}, B={args.batch}, policy {args.policy}:")
    for stage in ("traced", "compiled"):
        ops = ", ".join(f"{n} {op} in {dtype}" for (op, dtype), n in sorted(result[stage].items()))
        print(f"  {stage}: {ops}")
    print(f"  conversions in the compiled step: {result['converts']}")
    return result


if __name__ == "__main__":
    main()
