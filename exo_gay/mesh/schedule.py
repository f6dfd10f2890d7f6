"""Who mines which chunk next, and when a chunk's value is accepted: pure policy, no I/O.

The coordinator (coordinator.py) runs this against real miners; tests drive it directly.

- A host's range is cut into chunks; a miner takes its own host's chunks first, in order,
  then steals from the end of the host with the most chunks left (work-stealing).
- With nothing open, an idle miner duplicates the chunk that has been in flight longest,
  once that is clearly late (speculation: a stalled or slow miner never holds the end back).
- Each chunk needs ``replicas`` answers from distinct miners; a value is accepted once all of
  them agree.  Any disagreement is DISPUTED and the coordinator settles it by recomputing
  (``resolve``): nobody is ever convicted by a vote.
- A chunk's value is accepted once: a later equal answer is a DUPLICATE and is ignored,
  never combined twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..bundle import COORDINATOR

ACCEPTED, PENDING, DUPLICATE, DISPUTED, IGNORED = "accepted", "pending", "duplicate", "disputed", "ignored"


@dataclass
class ChunkState:
    idx: int
    host: str
    start: int
    count: int
    inflight: dict[str, float] = field(default_factory=dict)  # miner -> when it started
    answers: dict[str, str] = field(default_factory=dict)  # miner -> value text
    accepted: str | None = None
    accepted_by: tuple[str, ...] = ()


def split_range(start: int, count: int, chunk: int) -> list[tuple[int, int]]:
    return [(s, min(chunk, start + count - s)) for s in range(start, start + count, chunk)]


def default_chunk_size(host_counts: list[int], pieces_per_host: int = 16,
                       lo: int = 1 << 24, hi: int = 1 << 34) -> int:
    """~16 chunks per host for stealing, clamped so a chunk takes ~1 ms..~1.5 s on one core.

    A pure function of the bundle, so a restarted coordinator cuts the same chunks.
    """
    return max(lo, min(hi, -(-max(host_counts) // pieces_per_host)))


class Schedule:
    def __init__(self, host_ranges: list[tuple[str, int, int]], chunk_size: int, replicas: int = 1,
                 speculate_floor_s: float = 0.25, speculate_factor: float = 3.0):
        if replicas < 1:
            raise ValueError("replicas must be >= 1")
        self.replicas = replicas
        self.chunks: list[ChunkState] = []
        for host, start, count in host_ranges:
            for s, c in split_range(start, count, chunk_size):
                self.chunks.append(ChunkState(len(self.chunks), host, s, c))
        self.by_range = {(c.start, c.count): c for c in self.chunks}
        self.banned: set[str] = set()
        self.speculate_floor_s = speculate_floor_s
        self.speculate_factor = speculate_factor
        self.seconds_per_color: float | None = None  # observed, updated by the coordinator
        self._n_accepted = 0  # kept up to date so done() and progress are O(1), not O(chunks)
        self._colors_accepted = 0

    def _accept(self, c: ChunkState, text: str, by: tuple[str, ...]) -> None:
        if c.accepted is None:
            self._n_accepted += 1
            self._colors_accepted += c.count
        c.accepted, c.accepted_by = text, by

    def _unaccept(self, c: ChunkState) -> None:
        if c.accepted is not None:
            self._n_accepted -= 1
            self._colors_accepted -= c.count
        c.accepted, c.accepted_by = None, ()

    # -- queries
    def done(self) -> bool:
        return self._n_accepted == len(self.chunks)

    def accepted_colors(self) -> int:
        return self._colors_accepted

    def _needs(self, c: ChunkState, miner: str) -> bool:
        return (c.accepted is None and miner not in c.answers and miner not in c.inflight
                and len(c.answers) + len(c.inflight) < self.replicas)

    def late_after(self, c: ChunkState) -> float:
        spc = self.seconds_per_color
        return max(self.speculate_floor_s, self.speculate_factor * spc * c.count if spc else 0.0)

    def next_for(self, miner: str, now: float) -> ChunkState | None:
        """The chunk this miner should mine next, or None (nothing for it now)."""
        if miner in self.banned:
            return None
        for c in self.chunks:  # its own host's chunks, front first
            if c.host == miner and self._needs(c, miner):
                return c
        open_by_host: dict[str, list[ChunkState]] = {}
        for c in self.chunks:
            if self._needs(c, miner):
                open_by_host.setdefault(c.host, []).append(c)
        if open_by_host:  # steal from the back of the most loaded host, far from its owner's front
            host = max(open_by_host, key=lambda h: (len(open_by_host[h]), h))
            return open_by_host[host][-1]
        late = [c for c in self.chunks
                if c.accepted is None and c.inflight and miner not in c.inflight and miner not in c.answers
                and len(c.answers) + len(c.inflight) < self.replicas + 1
                and now - min(c.inflight.values()) > self.late_after(c)]
        if late:
            return min(late, key=lambda c: min(c.inflight.values()))
        return None

    # -- events
    def started(self, miner: str, c: ChunkState, now: float) -> None:
        c.inflight[miner] = now

    def stopped(self, miner: str, c: ChunkState) -> None:
        c.inflight.pop(miner, None)

    def answer(self, miner: str, c: ChunkState, text: str) -> str:
        """Record one miner's (audited) value for a chunk: the outcome."""
        c.inflight.pop(miner, None)
        if miner in self.banned:
            return IGNORED  # a convicted miner's answers count for nothing
        if c.accepted is not None:
            if text == c.accepted:
                return DUPLICATE
            c.answers[miner] = text
            return DISPUTED
        c.answers[miner] = text
        if len(set(c.answers.values())) > 1:
            return DISPUTED
        if len(c.answers) >= self.replicas:
            self._accept(c, text, tuple(c.answers))
            return ACCEPTED
        return PENDING

    def resolve(self, c: ChunkState, truth: str) -> list[str]:
        """Settle a chunk with the coordinator's own value; returns the miners that were wrong."""
        wrong = [m for m, t in c.answers.items() if t != truth]
        # the coordinator's own value stands even if every miner that agreed is banned later
        self._unaccept(c)
        self._accept(c, truth, tuple(m for m, t in c.answers.items() if t == truth) + (COORDINATOR,))
        return wrong

    def ban(self, miner: str) -> list[ChunkState]:
        """Forget everything a miner answered; returns the chunks that are open again."""
        self.banned.add(miner)
        reopened = []
        for c in self.chunks:
            c.inflight.pop(miner, None)
            if miner not in c.answers:
                continue
            del c.answers[miner]
            if c.accepted is not None and miner in c.accepted_by:
                c.accepted_by = tuple(m for m in c.accepted_by if m != miner)
                if COORDINATOR not in c.accepted_by:
                    self._unaccept(c)
                    reopened.append(c)
        return reopened

    def restore(self, start: int, count: int, text: str, by: tuple[str, ...]) -> ChunkState:
        """A chunk accepted in an earlier run (from the journal).

        Its miners' answers are restored too, so spot checks still cover them and convicting
        one of those miners later reopens the chunk.
        """
        c = self.by_range.get((start, count))
        if c is None:
            raise KeyError(f"[{start}, +{count}) is not a chunk of this bundle's chunking")
        self._unaccept(c)
        self._accept(c, text, tuple(by))
        c.answers = {m: text for m in by if m != COORDINATOR}
        return c

    def reopen(self, start: int, count: int) -> None:
        c = self.by_range[(start, count)]
        self._unaccept(c)
        c.answers.clear()
