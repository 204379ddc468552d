"""Training the seeds of a comparison in parallel processes (``training.compare --jobs N``).

The work is a queue of units, one arm of one seed each (:func:`units`); each child process is
``python -m training.compare ... --only-seeds <seed> --only-arms <arm>`` on its own share of the
CPU cores, and a share that frees takes the next unit, so N processes stay busy even with fewer
seeds than processes or arms of unequal cost (a TRT arm costs about two plain ones). Children are
pinned to their cores (Linux; JAX/XLA sizes its pool from that pinning only, so on
other systems JAX children each use every core) and with the thread pools of TensorFlow and
torch/OpenMP sized to them. Small spiking models use a 2-thread pool poorly: on a 2-core CPU two
single-threaded processes trained 27 % more TRT epochs per second of the half-width ResNet-20
recipe than one 2-thread process (20.5 s per epoch each, against 13.0 s). Children only train; the parent then
reuses their finished runs and writes the page, so the numbers do not depend on ``--jobs``
beyond floating-point summation order.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: Thread-pool sizes read at start-up by TensorFlow and by OpenMP (torch, oneDNN).
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def units(seeds, arms, together=(), done=lambda seed, key: False):
    """The work of a comparison as ``(seed, keys)`` units for the queue of :func:`run_children`:
    one unit per arm of each seed, the seeds in order (whole seeds finish first, so a cut
    campaign leaves complete seeds) and a seed's costlier units first (a short arm then fills the
    gap beside the next seed's long one). ``arms``: ``(key, cost)`` pairs, ``cost`` any relative
    estimate. ``together``: sets of keys that must share a unit (one arm sized from another's
    run, arms that may resolve to the same run folder); sets that overlap are merged, and a set
    with any unfinished arm goes whole. Other arms that ``done(seed, key)`` calls finished are
    left out.

    >>> units([0, 1], [("trt", 2), ("plain", 1), ("plain-flops", 2)], done=lambda s, k: s == 0)
    [(1, ['trt']), (1, ['plain-flops']), (1, ['plain'])]
    >>> units([0], [("trt", 2), ("plain", 1), ("plain-seconds", 2)], together=[{"trt", "plain-seconds"}, {"plain", "plain-seconds"}])
    [(0, ['trt', 'plain', 'plain-seconds'])]
    """
    arms = list(arms)
    order = [k for k, _ in arms]
    groups = []
    for group in map(set, together):
        group &= set(order)
        for other in [g for g in groups if g & group]:
            groups.remove(other)
            group |= other
        if group:
            groups.append(group)
    cost = dict(arms)
    out = []
    for seed in seeds:
        todo = [k for k in order if not done(seed, k)]
        # A group goes whole (its finished arms are reused by the child, and may be needed).
        batched = [sorted(g, key=order.index) for g in groups if g & set(todo)]
        loose = [[k] for k in todo if not any(k in g for g in groups)]
        found = sorted(batched + loose, key=lambda ks: (-sum(cost[k] for k in ks), order.index(ks[0])))
        out.extend((seed, ks) for ks in found)
    return out


def cores():
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


#: The folder holding the ``training`` package (a checkout's root): children import it from any
#: working directory.
ROOT = str(Path(__file__).resolve().parents[1])


def child_env(threads, base=None):
    """The environment of a child with ``threads`` threads (a value the user set wins), with the
    checkout on ``PYTHONPATH``."""
    env = dict(os.environ if base is None else base)
    for name in THREAD_VARIABLES:
        env.setdefault(name, str(threads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return env


#: A child pins itself to its cores before anything loads, then runs the compare CLI.
_PINNED = ("import os, runpy, sys; cpus = {int(c) for c in sys.argv.pop(1).split(',')}; "
           "hasattr(os, 'sched_setaffinity') and os.sched_setaffinity(0, cpus); "
           "sys.argv[0] = 'training.compare'; runpy.run_module('training.compare', run_name='__main__')")


def assign_cores(n_children, available=None):
    """Disjoint shares of the cores, one per child, as even as they divide (shared round-robin
    when there are fewer cores than children)."""
    available = cores() if available is None else list(available)
    if n_children > len(available):
        return [[available[i % len(available)]] for i in range(n_children)]
    base, extra = divmod(len(available), n_children)
    shares, start = [], 0
    for i in range(n_children):
        size = base + (i < extra)
        shares.append(available[start:start + size])
        start += size
    return shares


def _stop(procs, grace=10.0):
    """Lets the children finish what they are writing (they saw the same Ctrl-C), then ends them."""
    for _, p in procs:
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.terminate()
    for _, p in procs:
        p.wait()


def _raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _describe(unit):
    seed, keys = unit
    return f"seed {seed} {'+'.join(keys)}"


def run_children(args, work, jobs, echo=print, poll=0.5):
    """Runs the compare CLI for each unit of ``work`` (``(seed, keys)``, see :func:`units`) as
    ``args + ["--only-seeds", seed, "--only-arms", *keys]``, at most ``jobs`` children at once,
    each on its own share of the cores; a freed share takes the next unit. Raises ``SystemExit``
    naming the units that failed (the others still run: their runs are kept). Ctrl-C or SIGTERM
    stops the children too."""
    work = list(work)
    total, began = len(work), time.monotonic()
    shares = assign_cores(max(1, min(jobs, len(work))))
    running, codes = {}, []  # share index -> (unit, process)
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)  # a killed parent leaves no orphans
    try:
        while work or running:
            for slot, mine in enumerate(shares):
                if slot in running or not work:
                    continue
                unit = work.pop(0)
                argv = [sys.executable, "-c", _PINNED, ",".join(map(str, mine)), *args,
                        "--only-seeds", str(unit[0]), "--only-arms", *unit[1]]
                echo(f"[compare] {_describe(unit)}: a process on CPU cores {','.join(map(str, mine))}",
                     flush=True)
                running[slot] = (unit, subprocess.Popen(argv, env=child_env(len(mine))))
            time.sleep(poll)
            for slot, (unit, p) in list(running.items()):
                if p.poll() is not None:
                    codes.append((unit, p.returncode))
                    del running[slot]
                    minutes = (time.monotonic() - began) / 60
                    echo(f"[compare] {_describe(unit)} {'done' if p.returncode == 0 else 'FAILED'}: "
                         f"{len(codes)} of {total} units finished, {minutes:.0f} min", flush=True)
    except KeyboardInterrupt:
        _stop(running.values())
        raise SystemExit("interrupted: rerun the same command to resume from the last finished epochs.")
    except BaseException:
        for _, p in running.values():
            p.terminate()
        _stop(running.values(), grace=30.0)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [(u, rc) for u, rc in codes if rc != 0]
    if failed:
        which = "; ".join(f"{_describe(u)} (exit code {rc})" for u, rc in failed)
        raise SystemExit(f"training failed for {which}: fix the error reported above, then rerun "
                         "the same command (finished epochs are kept).")


def without_jobs(argv):
    """``argv`` without ``--jobs N`` and the ``--only-seeds S ...`` / ``--only-arms A ...`` that the
    queue gives each child (also as ``--opt=V`` or an abbreviation argparse accepts, ``--jo 2``)."""
    rest, skip = [], None
    for a in argv:
        name = a.split("=", 1)[0]
        if skip == "one":
            skip = None
            continue
        if skip == "many" and not a.startswith("-"):
            continue
        skip = None
        if len(name) > 2 and "--jobs".startswith(name):
            skip = None if "=" in a else "one"
        elif len(name) > 7 and ("--only-seeds".startswith(name) or "--only-arms".startswith(name)):
            skip = None if "=" in a else "many"
        else:
            rest.append(a)
    return rest
