"""File hashing and hash verification for presets.

>>> import pathlib, tempfile
>>> from keras_trt.zoo.integrity import sha256_file
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> _ = p.write_bytes(b"abc")
>>> sha256_file(p)[:16]
'ba7816bf8f01cfea'
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Mapping

from keras_trt.zoo.errors import IntegrityError, PresetFormatError

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex sha256 digest of a file, read in 1 MiB chunks.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> sha256_file(p)
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1(path: str | os.PathLike) -> str:
    """Return the git blob id of a file (what the Hub uses as ETag for files not stored in LFS).

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> git_blob_sha1(p)
    'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    size = os.path.getsize(path)
    digest = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_sha256(value: object) -> bool:
    """True if ``value`` is a lowercase hex sha256 digest.

    >>> is_sha256("0" * 64), is_sha256("xyz")
    (True, False)
    """
    return isinstance(value, str) and bool(_SHA256_RE.match(value))


def validate_hash_table(files: object, where: str) -> dict[str, str]:
    """Check that ``files`` maps plain file names to sha256 digests; return it as a dict.

    >>> validate_hash_table({"config.json": "0" * 64}, "metadata.json")
    {'config.json': '0000000000000000000000000000000000000000000000000000000000000000'}
    """
    if not isinstance(files, Mapping):
        raise PresetFormatError(
            f"{where}: 'files' must map file names to sha256 digests, got {type(files).__name__}. "
            "Re-create the preset with keras_trt.zoo.save_preset()."
        )
    out: dict[str, str] = {}
    for name, digest in files.items():
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
            raise PresetFormatError(
                f"{where}: invalid file name {name!r} in 'files' (plain file names only, no folders). "
                "Re-create the preset with keras_trt.zoo.save_preset()."
            )
        if not is_sha256(digest):
            raise PresetFormatError(
                f"{where}: the hash of {name!r} is not a lowercase hex sha256 digest: {digest!r}. "
                "Re-create the preset with keras_trt.zoo.save_preset()."
            )
        out[name] = digest
    return out


def verify_file(path: str | os.PathLike, expected: str, *, name: str, source: str, anchor: str) -> str:
    """Raise :class:`IntegrityError` unless ``sha256(path) == expected``; return the digest.

    ``name`` is the file's name in the preset, ``source`` says where it came from (a folder or an
    ``hf://`` handle) and ``anchor`` what recorded the expected hash (``metadata.json`` or the
    registry card).

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_bytes(b"abc")
    >>> d = verify_file(p, sha256_file(p), name="a.txt", source="here", anchor="metadata.json")
    """
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"Integrity check failed for '{name}' of {source}: its sha256 is {actual} but {anchor} "
            f"records {expected}. The file is corrupted or was modified after the preset was written; "
            "do not use it. Fix: get an intact copy of the preset (download or copy it again), or, if you "
            "changed the model on purpose, save it again with keras_trt.zoo.save_preset()."
        )
    return actual


def hash_files(folder: str | os.PathLike, names) -> dict[str, str]:
    """Return ``{name: sha256}`` for the given file names inside ``folder``.

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a").write_bytes(b"")
    >>> list(hash_files(d, ["a"]))
    ['a']
    """
    folder = Path(folder)
    return {name: sha256_file(folder / name) for name in names}
