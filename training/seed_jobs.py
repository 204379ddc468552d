"""Training the seeds of a comparison in parallel processes (``training.compare --jobs N``).

Each child process is ``python -m training.compare ... --only-seeds <its seeds>`` on its own share
of the CPU cores: pinned to them (Linux; JAX/XLA sizes its pool from that pinning only, so on
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
from pathlib import Path

#: Thread-pool sizes read at start-up by TensorFlow and by OpenMP (torch, oneDNN).
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def split(seeds, jobs):
    """``seeds`` dealt round-robin into at most ``jobs`` non-empty groups (every seed costs the
    same, so the groups' work differs by at most one seed)."""
    seeds = list(seeds)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}.")
    return [g for g in (seeds[i::jobs] for i in range(jobs)) if g]


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


def run_children(args, groups, echo=print):
    """Runs the compare CLI with ``args + ["--only-seeds", *group]`` for every group at once, each
    child pinned to its own cores; waits for all. Raises ``SystemExit`` naming the groups that
    failed (the others finish: their runs are kept). Ctrl-C or SIGTERM stops the children too."""
    procs = []
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)  # a killed parent leaves no orphans
    try:
        for group, mine in zip(groups, assign_cores(len(groups))):
            argv = [sys.executable, "-c", _PINNED, ",".join(map(str, mine)), *args,
                    "--only-seeds", *map(str, group)]
            echo(f"[compare] seeds {' '.join(map(str, group))}: a process on CPU cores "
                 f"{','.join(map(str, mine))}", flush=True)
            procs.append((group, subprocess.Popen(argv, env=child_env(len(mine)))))
        codes = [(group, p.wait()) for group, p in procs]
    except KeyboardInterrupt:
        _stop(procs)
        raise SystemExit("interrupted: rerun the same command to resume from the last finished epochs.")
    except BaseException:
        for _, p in procs:
            p.terminate()
        _stop(procs, grace=30.0)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [(g, rc) for g, rc in codes if rc != 0]
    if failed:
        which = "; ".join(f"seeds {' '.join(map(str, g))} (exit code {rc})" for g, rc in failed)
        raise SystemExit(f"training failed for {which}: fix the error reported above, then rerun "
                         "the same command (finished epochs are kept).")


def without_jobs(argv):
    """``argv`` without ``--jobs N`` / ``--jobs=N`` or an abbreviation argparse accepts (``--jo 2``)."""
    rest, skip = [], False
    for a in argv:
        name = a.split("=", 1)[0]
        if skip:
            skip = False
        elif len(name) > 2 and "--jobs".startswith(name):
            skip = "=" not in a
        else:
            rest.append(a)
    return rest
