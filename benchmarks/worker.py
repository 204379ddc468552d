"""One framework per process: ``python -m benchmarks.worker FRAMEWORK``.

FRAMEWORK is ``spikingjelly``, ``snntorch`` or ``keras-{tensorflow,jax,torch}``. The worker
reads one JSON command per line on stdin and answers one JSON line on stdout (everything the
libraries print goes to stderr). The driver (:mod:`benchmarks.run`) decides what runs when, so
that the frameworks take turns on the same machine.

Commands (``op``): ``info``; ``setup`` (build a model and warm it up: compilation, first
steps); ``time`` (run ``n`` steps of one workload, return each wall time); ``memory`` (reset the
resident-set high-water mark, run ``n`` training steps, return the peak); ``export`` / ``check``
(the shared-weights equality check); ``profile`` (``n`` steps under the framework's profiler,
op by op: :mod:`benchmarks.op_profile`); ``quit``.

Workloads are keyed ``train_T{T}``, ``infer_T{T}``, ``trt_T{T}_{reverse_at}`` (a TRT training
step) and ``trtinfer_T{T}_{reverse_at}`` (inference with the TRT-trained model).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

FRAMEWORK = sys.argv[1] if __name__ == "__main__" else None
#: A "-bf16" suffix runs the framework in mixed precision: Keras' "mixed_bfloat16" policy, or
#: torch.autocast(bfloat16) for the peers. Float32 otherwise.
BF16 = bool(FRAMEWORK and FRAMEWORK.endswith("-bf16"))
BASE = FRAMEWORK[: -len("-bf16")] if BF16 else FRAMEWORK
if BASE and BASE.startswith("keras-"):
    os.environ["KERAS_BACKEND"] = BASE.split("-", 1)[1]

from benchmarks import common  # noqa: E402

# Keras' jit_compile per backend (see benchmarks/README.md for the measurements behind it).
JIT_COMPILE = {"tensorflow": False, "jax": True, "torch": False}


def _data(seed=common.SEED, batch=common.BATCH):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.random((batch,) + common.IMAGE, dtype=np.float32)
    y = rng.integers(0, common.NUM_CLASSES, size=batch)
    return x, y


class KerasRunner:
    def __init__(self, backend):
        common.limit_threads(f"keras-{backend}")
        import keras_trt  # before Keras, as users should: it sets TensorFlow's and XLA's options

        import keras
        import numpy as np

        self.keras, self.keras_trt, self.np = keras, keras_trt, np
        self.backend = backend
        self.models = {}  # (T, reverse_at or None) -> compiled model
        self.steps = {}
        self.x, self.y = _data()
        if BF16:
            keras.config.set_dtype_policy("mixed_bfloat16")

    def _model(self, timesteps, reverse_at):
        key = (timesteps, reverse_at)
        if key not in self.models:
            from benchmarks import keras_net

            model = keras_net.build(timesteps, reverse_at=reverse_at or "stem")
            model.compile(
                optimizer=self.keras.optimizers.SGD(0.01, momentum=0.9),
                trt=self.keras_trt.TRTConfig() if reverse_at else None,
                jit_compile=JIT_COMPILE[self.backend],
            )
            self.models[key] = model
        return self.models[key]

    def setup(self, key, kind, timesteps, reverse_at=None):
        model = self._model(timesteps, reverse_at if kind in ("trt", "trtinfer") else None)
        x, y = self.x, self.y
        if kind == "train2b":  # the plain step on twice the batch
            x, y = self.np.concatenate([x, x]), self.np.concatenate([y, y])
        if kind in ("train", "trt", "train2b"):
            step = lambda: model.train_on_batch(x, y)  # noqa: E731
        else:
            step = lambda: model.predict_on_batch(x)  # noqa: E731
        self.steps[key] = step

    def flops(self, timesteps, reverse_at):
        from benchmarks import keras_net

        plain = keras_net.conv_flops(self._model(timesteps, None), trt=False)
        out = {"plain": plain, "gflop_per_image_step": keras_net.inference_gflops_per_image_step(
            self._model(timesteps, None))}
        for r in reverse_at:
            out[r] = keras_net.conv_flops(self._model(timesteps, r), trt=True)
        return out

    def export(self, path, timesteps):
        """Random weights (non-trivial BN statistics) and the reference logits, float32 and 64."""
        import numpy as np

        from benchmarks import keras_net

        x, _ = _data(seed=common.SEED + 1, batch=16)
        model = keras_net.build(timesteps)
        keras_net.randomize_batch_norm(model, common.SEED)
        keras_net.calibrate_moving_stats(model, x)
        arrays = {f"torch/{k}": v for k, v in keras_net.torch_state(model).items()}
        arrays.update({f"keras/{i:04d}": w for i, w in enumerate(model.get_weights())})
        arrays["x"] = x
        for dtype in ("float32", "float64"):
            arrays[f"eval_{dtype}"], arrays[f"train_{dtype}"] = self.logits(arrays, timesteps, dtype)
        np.savez(path, **arrays)
        return {}

    def logits(self, arrays, timesteps, dtype):
        """Inference and training-mode logits of the shared weights, computed in ``dtype``."""
        import numpy as np

        from benchmarks import keras_net

        keras = self.keras
        floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
        if BF16 and dtype == "float32":
            dtype = "mixed_bfloat16"  # the bf16 worker checks its own precision
        if self.backend == "jax" and dtype == "float64":
            import jax

            jax.config.update("jax_enable_x64", True)
        if dtype == "float64":
            keras.config.set_floatx(dtype)
        keras.config.set_dtype_policy(dtype)
        try:
            model = keras_net.build(timesteps)
            keys = sorted(k for k in arrays if k.startswith("keras/"))
            model.set_weights([arrays[k] for k in keys])
            x = arrays["x"].astype("float64" if dtype == "float64" else "float32")
            as_np = lambda t: np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(t, "float32")))  # noqa: E731
            eval_ = as_np(model(x, training=False))
            train = as_np(model(x, training=True))
        finally:
            keras.config.set_floatx(floatx)
            keras.config.set_dtype_policy(policy)
            if self.backend == "jax" and dtype == "float64":
                import jax

                jax.config.update("jax_enable_x64", False)
        return eval_, train


class TorchRunner:
    def __init__(self, framework):
        common.limit_threads(framework)
        import contextlib
        import torch

        from benchmarks import torch_nets

        self.torch, self.torch_nets = torch, torch_nets
        self.framework = framework
        self.autocast = (
            (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if BF16 else contextlib.nullcontext
        )
        self.nets, self.optimizers, self.steps = {}, {}, {}
        x, y = _data()
        self.x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        self.y = torch.from_numpy(y).long()

    def _net(self, timesteps):
        key = None if self.framework == "spikingjelly" else timesteps  # SJ's net is T-agnostic
        if key not in self.nets:
            torch = self.torch
            torch.manual_seed(common.SEED)
            net = self.torch_nets.build(self.framework, timesteps)
            self.nets[key] = net
            self.optimizers[key] = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        return self.nets[key], self.optimizers[key]

    def setup(self, key, kind, timesteps, reverse_at=None):
        torch = self.torch
        net, opt = self._net(timesteps)
        x, y = self.x, self.y

        if kind == "train":

            def step():
                net.train()
                x_seq = x.unsqueeze(0).repeat(timesteps, 1, 1, 1, 1)
                with self.autocast():
                    loss = torch.nn.functional.cross_entropy(net(x_seq).float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                net.reset_state()
                return float(loss)

        elif kind == "infer":

            def step():
                net.eval()
                with torch.no_grad(), self.autocast():
                    out = net(x.unsqueeze(0).repeat(timesteps, 1, 1, 1, 1))
                net.reset_state()
                return out

        else:
            raise ValueError(f"{self.framework} has no {kind!r} workload")
        self.steps[key] = step

    def logits(self, arrays, timesteps, dtype):
        import contextlib

        import numpy as np

        torch = self.torch
        net = self.torch_nets.build(self.framework, timesteps)
        self.torch_nets.load_weights(net, {k[6:]: arrays[k] for k in arrays if k.startswith("torch/")})
        tdtype = getattr(torch, dtype)
        net = net.to(tdtype)
        x = torch.from_numpy(arrays["x"].transpose(0, 3, 1, 2).copy()).to(tdtype)
        x_seq = x.unsqueeze(0).repeat(timesteps, 1, 1, 1, 1)
        cast = self.autocast if dtype == "float32" else contextlib.nullcontext
        with torch.no_grad(), cast():
            net.eval()
            eval_ = net(x_seq).float().numpy()
            net.reset_state()
            net.train()
            train = net(x_seq).float().numpy()
            net.reset_state()
        return np.asarray(eval_), np.asarray(train)


def _timed(step, n):
    """The wall time of each of ``n`` calls of ``step``, in seconds."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _compare(got, want):
    import numpy as np

    got, want = np.asarray(got, "float64"), np.asarray(want, "float64")
    diff = np.abs(got - want)
    scale = max(1e-12, float(np.abs(want).max()))
    return {
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float(diff.max() / scale),
        "samples_within_1e-4": float(np.mean(diff.max(-1) <= 1e-4 * scale)),
        "argmax_agree": float(np.mean(got.argmax(-1) == want.argmax(-1))),
        "logit_scale": scale,
    }


def main():
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints go to stderr; stdout carries the protocol only
    runner = None
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            t0 = time.perf_counter()
            if op == "init":
                runner = (
                    KerasRunner(BASE.split("-", 1)[1]) if BASE.startswith("keras-")
                    else TorchRunner(BASE)
                )
                out = {"memory": common.memory()}
            elif op == "setup":
                runner.setup(cmd["key"], cmd["kind"], cmd["T"], cmd.get("reverse_at"))
                for _ in range(cmd.get("warmup", 2)):
                    runner.steps[cmd["key"]]()
                out = {}
            elif op == "time":
                out = {"times": _timed(runner.steps[cmd["key"]], cmd["n"]), "load": os.getloadavg()[0]}
            elif op == "memory":
                before = common.memory()
                reset = common.reset_peak_memory()
                times = _timed(runner.steps[cmd["key"]], cmd["n"])
                out = {"before": before, "after": common.memory(), "reset": reset, "times": times,
                       "modules": [m for m in ("tensorflow", "jax", "torch") if m in sys.modules]}
            elif op == "profile":
                from benchmarks import op_profile

                step = runner.steps[cmd["key"]]
                ops, times = op_profile.profile(lambda: _timed(step, cmd["n"]), cmd["n"], FRAMEWORK,
                                                cmd["trace_dir"])
                out = {"ops": ops, "wall_ms": [1e3 * t for t in times]}
            elif op == "flops":
                out = runner.flops(cmd["T"], cmd["reverse_at"])
            elif op == "export":
                out = runner.export(cmd["path"], cmd["T"])
            elif op == "check":
                import numpy as np

                arrays = dict(np.load(cmd["path"]))
                out = {}
                for dtype in ("float64", "float32"):
                    eval_, train = runner.logits(arrays, cmd["T"], dtype)
                    out[dtype] = {"eval": _compare(eval_, arrays[f"eval_{dtype}"]),
                                  "train": _compare(train, arrays[f"train_{dtype}"])}
            elif op == "quit":
                proto.write(json.dumps({"ok": True}) + "\n")
                break
            else:
                raise ValueError(f"unknown op {op!r}")
            out.update(ok=True, seconds=time.perf_counter() - t0)
        except Exception as e:  # reported to the driver, which records it
            out = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        proto.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
