"""A member's book of piece records, pure: what it mined, what it received and audited, what it
sent to whom."""

from __future__ import annotations

from . import records as R
from .events import Got
from .plan import Plan


class Ledger:
    def __init__(self, plan: Plan, pieces: int):
        self.plan, self.pieces = plan, pieces
        self.got: dict[tuple[int, int], Got] = {}  # records received from others
        self.mine_vals: dict[tuple[int, int], int] = {}  # (of, j) -> XOR, mined by me
        self.my_records: list[R.PieceRecord] = []
        self.pending: set[tuple[int, int]] = set()  # audits not finished
        self.scheduled: set[tuple[int, int]] = set()
        self.sent: dict[str, set[tuple[int, int]]] = {}  # destination -> my records it has
        self.own_sends: dict[tuple[str, int], int] = {}  # (receiver, gone position): Owns sent
        self._grids: dict[int, list[tuple[int, int]]] = {}

    def grid(self, v: int) -> list[tuple[int, int]]:
        g = self._grids.get(v)
        if g is None:
            a, c = self.plan.range_of(v)
            g = self._grids[v] = R.piece_ranges(a, c, self.pieces)
        return g

    def fits(self, rec: R.PieceRecord) -> bool:
        """Is ``rec`` piece j of position ``of``'s grid?"""
        if not 0 <= rec.of < self.plan.n:
            return False
        g = self.grid(rec.of)
        return 0 <= rec.j < len(g) and g[rec.j] == (rec.start, rec.count)

    def take(self, rec: R.PieceRecord, raw: bytes) -> Got | None:
        """A record received from its miner; the Got to audit, or None when it is not new."""
        key = (rec.of, rec.j)
        if key in self.got or key in self.mine_vals:
            return None
        g = Got(rec, raw)
        self.got[key] = g
        self.pending.add(key)
        return g

    def mined(self, rec: R.PieceRecord) -> None:
        self.mine_vals[(rec.of, rec.j)] = rec.xor
        self.my_records.append(rec)

    def xor_of(self, v: int, miners: set[str], bad: set[str] | dict = frozenset()) -> int | None:
        """The XOR of position v's range from my own mining and records of ``miners`` I audited;
        None while some piece is missing or unaudited."""
        x = 0
        for j in range(len(self.grid(v))):
            if (v, j) in self.mine_vals:
                x ^= self.mine_vals[(v, j)]
                continue
            g = self.got.get((v, j))
            if g is None or g.state != "ok" or g.rec.miner not in miners or g.rec.miner in bad:
                return None
            x ^= g.rec.xor
        return x

    def audited_by_me(self, v: int, miner: str) -> bool:
        return all((g := self.got.get((v, j))) is not None and g.state == "ok" and g.rec.miner == miner
                   for j in range(len(self.grid(v))))

    def evidence(self, v: int, miner: str) -> list[str]:
        """The envelopes, signed by ``miner``, that carried its records of position v I audited."""
        raws = {g.raw for (of, _), g in self.got.items() if of == v and g.rec.miner == miner and g.state == "ok"}
        return sorted(r.decode() for r in raws)

    def unsent(self, dest: str, of: int | None = None) -> list[R.PieceRecord]:
        have = self.sent.setdefault(dest, set())
        return [r for r in self.my_records if (r.of, r.j) not in have and (of is None or r.of == of)]

    def resend(self, dest: str, of: int | None = None) -> list[R.PieceRecord]:
        """My records ``dest`` was sent before (a message can be lost: they go again)."""
        have = self.sent.get(dest, set())
        return [r for r in self.my_records if (r.of, r.j) in have and (of is None or r.of == of)]

    def mark_sent(self, dest: str, recs: list[R.PieceRecord]) -> None:
        self.sent.setdefault(dest, set()).update((r.of, r.j) for r in recs)

    def drop_miner(self, miner: str) -> None:
        """``miner`` is excluded: none of its records counts."""
        for key, g in self.got.items():
            if g.rec.miner == miner:
                g.state = "bad"
                self.pending.discard(key)
