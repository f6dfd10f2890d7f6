"""JSON in and out with bounds: nesting depth and integer size are checked before Python parses.

Every input path (files, journal lines, wire answers) reads JSON through `loads`, so a hostile
document is an InputError (or the caller's error class), never a RecursionError or a traceback.
Files are written whole or not at all, with the mode the umask gives.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from typing import Any

from .errors import InputError

MAX_DEPTH = 64
MAX_INT_DIGITS = 40  # 2^128 has 39 digits: every integer the protocol uses fits


def _depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _bounded_int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(s.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(s)


def loads(text: str | bytes, what: str = "JSON", error: type[Exception] = InputError) -> Any:
    """Parse JSON text; every way it can be malformed or oversized is one ``error`` naming ``what``."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise error(f"{what}: not UTF-8 text") from None
    if _depth(text) > MAX_DEPTH:
        raise error(f"{what}: nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise error(f"{what}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except (ValueError, RecursionError) as e:
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
