"""The coordinator's journal: accepted chunks, one JSON line each, fsynced.

A coordinator killed and restarted with the same journal takes every accepted chunk from
it and mines only the rest: nothing is recomputed, lost, or counted twice (a chunk is keyed
by its range, and the schedule accepts a range once).  The first line binds the journal to a
bundle hash and a chunking; a journal for anything else is refused.  A torn last line (the
process died mid-write) is ignored: that chunk is simply mined again.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

JOURNAL_VERSION = 1


class JournalError(ValueError):
    pass


def read_journal(path: str, bundle_hash: str, chunk_size: int) -> list[dict]:
    """The events of an existing journal ([] if there is none); JournalError if it is foreign."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    events: list[dict] = []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            if n >= len(lines) - 2:  # a torn last line: the write it belonged to never finished
                break
            raise JournalError(f"journal {path}: line {n + 1} is not JSON") from None
        if n == 0:
            if ev.get("journal") != JOURNAL_VERSION:
                raise JournalError(f"journal {path}: not an exo-gay journal")
            if ev.get("bundle_hash") != bundle_hash:
                raise JournalError(f"journal {path}: belongs to another bundle ({str(ev.get('bundle_hash'))[:12]}...)")
            if ev.get("chunk_size") != chunk_size:
                raise JournalError(f"journal {path}: chunk size {ev.get('chunk_size')} differs from {chunk_size}")
            continue
        events.append(ev)
    return events


def _cut_torn_tail(path: str) -> int:
    """Cut a torn last line off, so the next append starts a line of its own; the size left.

    Appending after a torn line would glue the new event to it: that event would be lost, and
    the next one would make the journal unreadable.
    """
    if not os.path.exists(path):
        return 0
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            f.truncate(keep)
    return keep


class Journal:
    def __init__(self, path: str, bundle_hash: str, chunk_size: int):
        self.path = path
        fresh = _cut_torn_tail(path) == 0
        self._f = open(path, "a", encoding="utf-8")
        if fresh:
            self._write({"journal": JOURNAL_VERSION, "bundle_hash": bundle_hash, "chunk_size": chunk_size})

    def _write(self, ev: dict[str, Any]) -> None:
        self._f.write(json.dumps(ev, separators=(",", ":")) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def accepted(self, start: int, count: int, text: str, by: tuple[str, ...]) -> None:
        self._write({"accept": [start, count], "value": text, "by": list(by)})

    def reopened(self, start: int, count: int, why: str) -> None:
        self._write({"reopen": [start, count], "why": why})

    def close(self) -> None:
        self._f.close()


def replay(events: list[dict]) -> Iterator[tuple[str, int, int, str | None, tuple[str, ...]]]:
    """("accept"|"reopen", start, count, value text, by) in journal order."""
    for ev in events:
        if "accept" in ev:
            s, c = ev["accept"]
            yield "accept", int(s), int(c), str(ev["value"]), tuple(ev.get("by", ()))
        elif "reopen" in ev:
            s, c = ev["reopen"]
            yield "reopen", int(s), int(c), None, ()
