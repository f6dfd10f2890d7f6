"""What a member takes from the aggregation, pure: a reporter's signed summary (once its own
range's records are audited), an Own (only from the miner the takeover rule names, matching
signed records) and the Final (only with its chain down to this member's own summary)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..errors import InputError
from . import checks
from . import records as R
from .aggregate import Own
from .events import Action, Broadcast

if TYPE_CHECKING:
    from .machine import MemberState

log = logging.getLogger(__name__)


class Inbox:
    def __init__(self, st: "MemberState"):
        self.st = st

    def take_own(self, sender: str, src: int, own: Own, evidence) -> None:
        """An Own counts only from the member the takeover rule names as v's miner (in my view),
        and only once the records it rests on (the gone member's, signed by it, and the ones
        the miner signed and I audited) XOR to it."""
        v = own.v
        if not 0 <= v < self.st.plan.n or not self.st.view.out(v) or self.st.view.miner(v) != src:
            log.info("%s: refused an Own for position %d from %s (not the miner the takeover rule names)",
                     self.st.cfg.me, v, sender)
            return
        if self.st.node.own.get(v) == own.xor:
            return
        # evidence that came with an earlier copy of the same Own counts too (copies without
        # it, or with only part of it, follow a lost envelope)
        pending = self.st.owns_pending.get(v)
        same = pending if pending is not None and pending[1] == own.xor else None
        if same is not None and not evidence:
            return
        gone = self.st.plan.order[v]
        vals: dict[int, int] = dict(same[2]) if same is not None else {}
        raws = evidence.get(str(v), []) if isinstance(evidence, dict) else []
        for raw in raws[:64] if isinstance(raws, list) else []:
            try:
                body = R.open_envelope(str(raw).encode(), self.st.roster.key_of(gone))
                for d in body.get("records", []):
                    rec = R.PieceRecord.from_json(d)
                    if rec.miner == gone and rec.of == v and self.st.book.fits(rec):
                        vals[rec.j] = rec.xor
            except (InputError, AttributeError, TypeError):
                continue
        self.st.owns_pending[v] = (src, own.xor, vals)

    def check_owns(self) -> None:
        for v, (src, claimed, vals) in list(self.st.owns_pending.items()):
            if self.st.view.miner(v) != src or src in self.st.view.excluded:
                del self.st.owns_pending[v]
                continue
            sender = self.st.plan.order[src]
            have = dict(vals)
            for j in range(len(self.st.book.grid(v))):
                g = self.st.book.got.get((v, j))
                ok = g is not None and g.state == "ok" and g.rec.miner in (sender, self.st.plan.order[v])
                if j not in have and ok:
                    have[j] = g.rec.xor
            x = checks.xor_of_records(have, len(self.st.book.grid(v)))
            if x is None:
                continue
            del self.st.owns_pending[v]
            if x != claimed:
                log.warning("%s: %s's Own for position %d is not the XOR of its records", self.st.cfg.me, sender, v)
                self.st._exclude(sender, self.st.cfg.me)
            else:
                self.st.node.receive(src, Own(v, claimed))

    def take_final(self, sender: str, src: int, fin: dict) -> list[Action]:
        st = self.st
        top = st.view.top(st.me)
        mine = st.node.compose()
        chk = checks.check_final(st.roster.key_of, st.cfg.session, st.node.span, st.plan.n, st.cfg.total,
                                 st.plan.order, fin, sender, st.view.acting_root(), st.view.out,
                                 st.cfg.me, top, mine.xor if mine is not None else None)
        if chk.reason is None and src == self.st.view.acting_root():
            # I report to the root: its own part must be the XOR of its records I audited
            x = self.st.book.xor_of(src, {sender})
            if x is None:
                chk = checks.FinalCheck(None, [], "the root's records are not all audited yet", later=True)
            elif x != chk.root_own:
                log.warning("%s: the root %s claims an own part that is not its records' XOR", self.st.cfg.me, sender)
                self.st._exclude(sender, self.st.cfg.me)
                return []
        if chk.reason is not None:
            if self.st.refused != chk.reason:
                log.info("%s: refused a Final from %s: %s", self.st.cfg.me, sender, chk.reason)
            self.st.refused = chk.reason
            return []
        if self.st.node.receive(src, chk.final):
            self.st.chain, self.st.final_sig = chk.chain, fin["sig"]
        return []

    def check_summaries(self) -> list[Action]:
        """Take a reporter's summary only once its own range's records are audited and agree
        with the part it claims for itself."""
        out: list[Action] = []
        for sender, (src, s, data, sm) in list(self.st.unchecked.items()):
            if sender in self.st.accused:
                del self.st.unchecked[sender]
                continue
            claimed = dict(s.owns).get(src)
            if claimed is None:
                del self.st.unchecked[sender]
                out += self.accuse_sum(sender, "its summary leaves out its own range", data, [])
                continue
            x = self.st.book.xor_of(src, {sender})
            if x is None:
                continue
            del self.st.unchecked[sender]
            if x != claimed:
                raws = [self.st.book.got[(src, j)].raw.decode() for j in range(len(self.st.book.grid(src)))
                        if (src, j) in self.st.book.got]
                out += self.accuse_sum(
                    sender, "the XOR it claims for its range is not that of its records", data, raws)
            elif self.st.node.receive(src, s.msg):
                self.st.sum_sigs[s.msg.lo] = [sm["data"], sm["sig"], sender]
        return out

    def accuse_sum(self, liar: str, reason: str, envelope: bytes, records: list[str]) -> list[Action]:
        log.warning("%s: %s sent a false summary: %s", self.st.cfg.me, liar, reason)
        acc = self.st.id.seal({"kind": "sum", "from": self.st.cfg.me, "accused": liar, "envelope": envelope.decode(),
                            "records": records})
        self.st._exclude(liar, self.st.cfg.me)
        return [Broadcast(acc)]
