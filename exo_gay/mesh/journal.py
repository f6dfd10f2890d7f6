"""The coordinator's journal: accepted chunks, reopenings and convictions, one JSON line each.

A coordinator killed and restarted with the same journal takes every accepted chunk from it
and mines only the rest; a miner convicted in an earlier run stays convicted.  The first line
binds the journal to a bundle hash and a chunking.  With a key (the coordinator's shared key
or secret key), every line carries an HMAC chained over all lines before it, so an entry can
be neither forged, altered, reordered nor dropped from the middle.

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

JOURNAL_VERSION = 2
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


def read_journal(path: str, bundle_hash: str, chunk_size: int, names: set[str],
                 key: bytes | None = None) -> list[Event]:
    """The events of an existing journal ([] if there is none or it is empty); JournalError if
    it is foreign, altered, or holds a line that is not a valid entry."""
    lines = _lines(path)
    if not lines:
        return []
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
        mac = ev.pop("mac", None)
        if key is not None:
            if not isinstance(mac, str) or not hmac.compare_digest(mac, _chain(key, prev, ev).hex()):
                raise JournalError(f"{where}: fails its authentication (altered, forged, or written with "
                                   f"another key)" if n or mac else f"journal {path}: written without a key")
            prev = bytes.fromhex(mac)
        elif mac is not None:
            raise JournalError(f"journal {path}: authenticated: give the key it was written with")
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
    return events


def _last_mac(path: str) -> bytes:
    lines = _lines(path)
    if not lines:
        return b""
    mac = jsonfile.loads(lines[-1], "journal", JournalError).get("mac")
    return bytes.fromhex(mac) if isinstance(mac, str) else b""


class Journal:
    """Appends to a journal that read_journal accepted (or starts one)."""

    def __init__(self, path: str, bundle_hash: str, chunk_size: int, key: bytes | None = None):
        self.path, self.key = path, key
        keep = self._cut_torn_tail()
        self._prev = _last_mac(path) if keep else b""
        self._f = open(path, "a", encoding="utf-8")
        if keep == 0:
            self._write({"journal": JOURNAL_VERSION, "bundle_hash": bundle_hash, "chunk_size": chunk_size})

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
        if self.key is not None:
            mac = _chain(self.key, self._prev, ev)
            self._prev = mac
            ev = {**ev, "mac": mac.hex()}
        self._f.write(json.dumps(ev, separators=(",", ":")) + "\n")
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
