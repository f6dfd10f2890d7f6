"""JSON in and out: one parser for every input, one canonical form, files written whole.

Every input path (files, journal lines, wire answers) reads JSON through `loads`, so a hostile
document (nested 200000 deep, a 5000-digit integer, a key named twice) is an InputError (or the
caller's error class), never a RecursionError or a traceback.
Files are written whole or not at all, with the mode the umask gives.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from typing import Any

from .errors import InputError

_DIGITS = re.compile(r"value has (\d+) digits")


def _object(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"the key {twice!r} appears twice in one object")
    return obj


def loads(text: str | bytes, what: str = "JSON", error: type[Exception] = InputError) -> Any:
    """Parse JSON text; every way it can be malformed or oversized is one ``error`` naming ``what``.

    The standard parser bounds the rest: nesting by the interpreter's recursion limit
    (RecursionError), integers by its digit limit (sys.get_int_max_str_digits(), 4300 digits).
    An object that names a key twice is refused (the parser would keep the last silently).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise error(f"{what}: not UTF-8 text") from None
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise error(f"{what}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise error(f"{what}: nested deeper than the parser allows") from None
    except ValueError as e:
        digits = _DIGITS.search(str(e))
        if digits:  # the interpreter's message names sys.set_int_max_str_digits(): not for users
            raise error(f"{what}: an integer of {digits.group(1)} digits") from None
        raise error(f"{what}: {e}") from None


def canonical(obj: Any) -> str:
    """The one canonical JSON text: sorted keys, no spaces, ASCII; equal values give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read(path: str, what: str = "file", error: type[Exception] = InputError) -> Any:
    """Load a JSON file ("-": standard input), turning every way it can fail into one clear ``error``."""
    if path == "-":
        return loads(sys.stdin.buffer.read(), f"{what} from standard input", error)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise error(f"{what} {path}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError, OSError) as e:
        raise error(f"{what} {path}: cannot read ({e.__class__.__name__})") from None
    return loads(text, f"{what} {path}", error)


def check_folder(path: str, error: type[Exception] = InputError) -> None:
    """Refuse an output file whose folder does not exist: call it before the work, not after."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise error(f"cannot write {path}: folder {folder} does not exist")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str, text: str, mode: int | None = None) -> None:
    """Write a whole file or nothing (temporary file in the same folder, then rename).

    The file gets ``mode`` if given, else 0o666 less the umask, as open() would give it.
    """
    check_folder(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        os.fchmod(fd, mode if mode is not None else 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
