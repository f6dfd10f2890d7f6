"""Everything a mining run checks before any work: peers against the bundle, options, the
journal.  Bad input raises SetupError (the CLI's exit 2) before a miner starts or a file is
written."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import audit
from ..bundle import Bundle
from ..errors import InputError
from ..registry import get_reduction
from .journal import JournalError, read_journal
from .schedule import COORDINATOR, default_chunk_size, split_range
from .wire import value_from_text

DEFAULT_AUDITS = 5  # leaves per chunk: 5 of 256 is 1.95% of the work, recomputed by the coordinator
MAX_CHUNKS = 100_000  # the schedule scans its chunks per dispatch
WAIT_PEERS_S = 30.0  # how long `mine` waits for peers that are still starting


class SetupError(InputError):
    """Bad input found before anything started (the CLI's exit 2)."""


@dataclass(frozen=True)
class Setup:
    """Everything checked before any work: hand it to Coordinator(setup=...) to check once."""

    chunk_size: int
    events: list = field(default_factory=list)  # the journal's events, read once


def check_setup(bundle: Bundle, peer_ids: list[str], replicas: int = 1, audits: int = DEFAULT_AUDITS,
                chunk_size: int | None = None, journal_path: str | None = None) -> Setup:
    if COORDINATOR in peer_ids:
        raise SetupError(f"a peer is named {COORDINATOR!r}: that name is reserved for the coordinator's "
                         f"own results")
    missing = [h for h in bundle.hosts if h not in peer_ids]
    if missing:
        raise SetupError(f"bundle host(s) not among the peers: {', '.join(missing)}")
    if len(set(peer_ids)) != len(peer_ids):
        raise SetupError("a peer is named twice")
    if not 1 <= replicas <= len(peer_ids):
        raise SetupError(f"--replicas {replicas}: needs 1..{len(peer_ids)} (the number of miners)")
    if not 0 <= audits <= audit.LEAVES:
        raise SetupError(f"--audits must be in 0..{audit.LEAVES}")
    chunk = chunk_size or bundle.chunk_size or default_chunk_size([r.count for r in bundle.ranges])
    n_chunks = sum(-(-r.count // chunk) for r in bundle.ranges)
    if n_chunks > MAX_CHUNKS:
        raise SetupError(f"chunk size {chunk} cuts the bundle into {n_chunks} chunks (at most {MAX_CHUNKS}): "
                         f"use a larger chunk size")
    return Setup(chunk, _journal_events(bundle, peer_ids, chunk, journal_path) if journal_path else [])


def _journal_events(bundle: Bundle, peer_ids: list[str], chunk: int, path: str) -> list:
    try:
        events = read_journal(path, bundle.hash, chunk, set(peer_ids))
    except JournalError as e:
        raise SetupError(str(e)) from None
    chunks = {(s, c) for r in bundle.ranges for s, c in split_range(r.start, r.count, chunk)}
    reduction = get_reduction(bundle.game)
    for ev in events:
        if ev.kind in ("accept", "reopen") and (ev.start, ev.count) not in chunks:
            raise SetupError(f"journal {path}: [{ev.start}, +{ev.count}) is not a chunk of this bundle")
        if ev.kind == "accept":
            try:
                value_from_text(reduction, ev.value)
            except ValueError as e:
                raise SetupError(f"journal {path}: a malformed value ({str(e)[:60]})") from None
    return events
