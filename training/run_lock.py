"""An exclusive lock on a run folder, so that two processes never train the same run at once.

``training.train`` takes it for its run folder (a second ``python -m training.train`` on the same
folder stops at once) and ``training.compare`` around each arm it trains: parts of a comparison run by hand in
parallel (``--only-seeds``, ``--only-arms``), or a final call started while a part still trains,
then stop with a message instead of writing the same checkpoint from two processes. A lock left
by a process that died is taken over (same host); one from another host is reported, not broken.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> with locked(folder):
...     holder(folder)["pid"] == os.getpid()
True
>>> holder(folder) is None
True
"""

import contextlib
import json
import os
import socket
from pathlib import Path

LOCK_FILE = "training.lock"
_HELD = set()  # folders this process holds: a nested locked() on one of them is a no-op


def holder(folder):
    """``{"host", "pid"}`` of the process holding ``folder``'s lock, ``{}`` if the lock file is
    unreadable, None if there is no lock."""
    try:
        data = json.loads((Path(folder) / LOCK_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _stale(held):
    """Held by a process of this host that is gone (or by this very process)."""
    pid = held.get("pid")
    return (held.get("host") == socket.gethostname() and isinstance(pid, int)
            and (pid == os.getpid() or not _alive(pid)))


@contextlib.contextmanager
def locked(folder):
    """Holds ``folder``'s lock for the ``with`` block; SystemExit naming the holder if another
    live process has it."""
    key = os.path.realpath(folder)
    if key in _HELD:  # (training.compare locks an arm's folder, then training.train locks it again)
        yield
        return
    path = Path(folder) / LOCK_FILE
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    for _ in range(2):  # a second try after removing a stale lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            held = holder(folder)
            if held is None or (held and _stale(held)):
                path.unlink(missing_ok=True)
                continue
            who = f"process {held.get('pid')} on {held.get('host')}" if held else "another process"
            raise SystemExit(
                f"{folder} is being trained by {who}. Wait for it to finish (a later call reuses "
                f"its run), or delete {path} if that process is gone."
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:
        raise SystemExit(f"Could not lock {folder}: another process keeps taking {path}.")
    _HELD.add(key)
    try:
        yield
    finally:
        _HELD.discard(key)
        path.unlink(missing_ok=True)
