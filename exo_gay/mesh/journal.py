"""The coordinator's journal: accepted chunks, reopenings and convictions, one JSON line each.

A coordinator killed and restarted with the same journal takes every accepted chunk from it
and mines only the rest; a miner convicted in an earlier run stays convicted.  The first line
binds the journal to a bundle hash and a chunking.

Every line carries an HMAC chained over all lines before it, under the journal's own key: 32
random bytes in its seal file ``JOURNAL.seal`` (mode 0600, made with the journal), independent
of every key a miner holds.  The seal also holds the journal's last line, written (atomically)
before that line is appended: an entry can be neither forged, altered, reordered, dropped
from the middle nor cut from the end; a line sealed but not yet appended when the
coordinator died is appended from the seal on resume.

One rule for junk everywhere: a last line without its newline is torn (the process died
mid-write): it is ignored and cut off before the next append.  Any complete line that is
not a valid entry makes the whole journal refused (JournalError), and a file whose first
line is not a journal header is never written to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from .. import jsonfile
from ..bundle import COORDINATOR
from ..errors import InputError

JOURNAL_VERSION = 3
MAX_BYTES = 1 << 30


class JournalError(InputError):
    pass


@dataclass(frozen=True)
class Event:
    kind: str  # accept | reopen | convict
    start: int = 0
    count: int = 0
    value: str = ""
    by: tuple[str, ...] = ()
    node: str = ""
    why: str = ""


def _canonical(ev: dict) -> bytes:
    return jsonfile.canonical(ev).encode()


def _chain(key: bytes, prev: bytes, ev: dict) -> bytes:
    return hmac.new(key, prev + _canonical(ev), hashlib.sha256).digest()


def _is_u64(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64


def _event(ev: Any, names: set[str], where: str) -> Event:
    if not isinstance(ev, dict):
        raise JournalError(f"{where}: not an entry")
    if "accept" in ev or "reopen" in ev:
        kind = "accept" if "accept" in ev else "reopen"
        rng = ev[kind]
        if not (isinstance(rng, list) and len(rng) == 2 and all(_is_u64(x) for x in rng) and rng[1] > 0):
            raise JournalError(f"{where}: {kind}: expected [start, count]")
        if kind == "reopen":
            return Event("reopen", rng[0], rng[1])
        value, by = ev.get("value"), ev.get("by")
        if not isinstance(value, str) or len(value) > 1 << 16:
            raise JournalError(f"{where}: value: expected a value's JSON text")
        if not (isinstance(by, list) and by and all(isinstance(b, str) for b in by)):
            raise JournalError(f"{where}: by: expected the names of who mined it")
        unknown = [b for b in by if b not in names and b != COORDINATOR]
        if unknown:
            raise JournalError(f"{where}: credited to {unknown[0][:40]!r}, not a peer of this cluster")
        return Event("accept", rng[0], rng[1], value, tuple(by))
    if "convict" in ev:
        node, why = ev["convict"], ev.get("why", "")
        if not isinstance(node, str) or not isinstance(why, str):
            raise JournalError(f"{where}: convict: expected a node id")
        return Event("convict", node=node, why=why[:200])
    raise JournalError(f"{where}: unknown entry")


def _lines(path: str) -> list[bytes]:
    """The complete lines of a journal (a torn last line left out); [] if there is none."""
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise JournalError(f"journal {path}: larger than {MAX_BYTES} bytes")
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise JournalError(f"journal {path}: cannot read ({e.__class__.__name__})") from None
    if data and b"\n" not in data:
        raise JournalError(f"journal {path}: not an exo-gay journal (it is left untouched)")
    return data.split(b"\n")[:-1]  # the part after the last newline is torn or empty


def seal_path(path: str) -> str:
    return path + ".seal"


def _read_seal(path: str) -> dict | None:
    """The journal's seal {"key": bytes, "last": line}, None if there is none."""
    try:
        with open(seal_path(path), "rb") as f:
            data = f.read(1 << 20)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise JournalError(f"journal {path}: cannot read its seal ({e.__class__.__name__})") from None
    try:
        seal = json.loads(data)
        key = bytes.fromhex(seal["key"])
        if len(key) != 32 or not isinstance(seal.get("last", ""), str):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise JournalError(f"journal {path}: its seal {seal_path(path)} is not one") from None
    return {"key": key, "last": seal.get("last", "")}


def _write_seal(path: str, key: bytes, last: str) -> None:
    jsonfile.atomic_write(seal_path(path), json.dumps({"key": key.hex(), "last": last}), mode=0o600)


def _check(ev: dict, mac: Any, key: bytes, prev: bytes, where: str) -> bytes:
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _chain(key, prev, ev).hex()):
        raise JournalError(f"{where}: fails its authentication (altered, forged, or written with another key)")
    return bytes.fromhex(mac)


def read_journal(path: str, bundle_hash: str, chunk_size: int, names: set[str]) -> list[Event]:
    """The events of an existing journal ([] if there is none or it is empty); JournalError if
    it is foreign, altered, cut, or holds a line that is not a valid entry."""
    lines = _lines(path)
    seal = _read_seal(path)
    if not lines:
        if seal is not None and seal["last"]:
            raise JournalError(f"journal {path}: empty, but its seal {seal_path(path)} names a last line "
                               f"(cut?); remove both to start over")
        return []
    if seal is None:
        try:
            first = json.loads(lines[0])
        except ValueError:
            first = None
        if isinstance(first, dict) and first.get("journal") == JOURNAL_VERSION:
            raise JournalError(f"journal {path}: its seal {seal_path(path)} is missing")
        raise JournalError(f"journal {path}: not an exo-gay journal (it is left untouched)")
    key = seal["key"]
    events: list[Event] = []
    prev = b""
    for n, line in enumerate(lines):
        where = f"journal {path}: line {n + 1}"
        try:
            ev = jsonfile.loads(line, where, JournalError)
        except JournalError:
            if n == 0:
                raise JournalError(f"journal {path}: not an exo-gay journal (it is left untouched)") from None
            raise
        if not isinstance(ev, dict):
            raise JournalError(f"{where}: not an entry" if n else f"journal {path}: not an exo-gay journal")
        prev = _check(ev, ev.pop("mac", None), key, prev, where)
        if n == 0:
            if ev.get("journal") != JOURNAL_VERSION:
                raise JournalError(f"journal {path}: not an exo-gay journal (it is left untouched)")
            if ev.get("bundle_hash") != bundle_hash:
                raise JournalError(f"journal {path}: belongs to another bundle ({str(ev.get('bundle_hash'))[:12]}...)")
            if ev.get("chunk_size") != chunk_size:
                raise JournalError(f"journal {path}: chunk size {str(ev.get('chunk_size'))[:20]} "
                                   f"differs from {chunk_size}")
            continue
        events.append(_event(ev, names, where))
    pending = _pending(path, seal, lines[-1], prev)
    if pending is not None:
        events.append(_event(pending, names, f"journal {path}: its sealed last line"))
    return events


def _pending(path: str, seal: dict, last: bytes, prev: bytes) -> dict | None:
    """The sealed line the coordinator died before appending, or None when the journal ends
    with the sealed line; JournalError when it ends anywhere else (cut, or lines added)."""
    if seal["last"].encode() == last:
        return None
    try:
        ev = json.loads(seal["last"])
        _check(ev, ev.pop("mac", None), seal["key"], prev, "")
        return ev
    except (ValueError, TypeError, AttributeError, JournalError):
        raise JournalError(f"journal {path}: does not end with the line its seal names (cut or altered); "
                           f"it is left untouched") from None


class Journal:
    """Appends to a journal that read_journal accepted (or starts one, with its seal)."""

    def __init__(self, path: str, bundle_hash: str, chunk_size: int):
        self.path = path
        keep = self._cut_torn_tail()
        seal = _read_seal(path)
        self.key = seal["key"] if seal else os.urandom(32)
        if seal is None:
            _write_seal(path, self.key, "")
        self._f = open(path, "a", encoding="utf-8")
        self._prev = b""
        if keep == 0:
            self._write({"journal": JOURNAL_VERSION, "bundle_hash": bundle_hash, "chunk_size": chunk_size})
            return
        last = _lines(path)[-1]
        self._prev = bytes.fromhex(json.loads(last)["mac"])
        if seal and seal["last"] and seal["last"].encode() != last:  # sealed, then died before appending
            self._append(seal["last"])
            self._prev = bytes.fromhex(json.loads(seal["last"])["mac"])

    def _cut_torn_tail(self) -> int:
        """Cut a torn last line off, so the next append starts a line of its own; the size left."""
        if not os.path.exists(self.path):
            return 0
        with open(self.path, "rb+") as f:
            data = f.read()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):
                f.truncate(keep)
        return keep

    def _write(self, ev: dict[str, Any]) -> None:
        mac = _chain(self.key, self._prev, ev)
        self._prev = mac
        line = json.dumps({**ev, "mac": mac.hex()}, separators=(",", ":"))
        _write_seal(self.path, self.key, line)  # first the seal, then the line: a cut is always seen
        self._append(line)

    def _append(self, line: str) -> None:
        self._f.write(line + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def accepted(self, start: int, count: int, text: str, by: tuple[str, ...]) -> None:
        self._write({"accept": [start, count], "value": text, "by": list(by)})

    def reopened(self, start: int, count: int, why: str) -> None:
        self._write({"reopen": [start, count], "why": why})

    def convicted(self, node: str, why: str) -> None:
        self._write({"convict": node, "why": why})

    def close(self) -> None:
        self._f.close()
