"""What a member sends at a sync point, pure: one envelope per destination with its new records,
its signed summary with the parts it is the sum of, the Owns of the gone positions it mines for
(with the gone member's signed records as evidence), and the Final with its chain."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..errors import RunFailed
from . import records as R
from .aggregate import Final, Own, Summary
from .events import Action, Send

if TYPE_CHECKING:
    from .machine import MemberState

log = logging.getLogger(__name__)
FLAG_AUDITED_PARENT = 1
EVIDENCE_EVERY = 4


class Outbox:
    def __init__(self, st: "MemberState"):
        self.st = st

    def sync(self) -> list[Action]:
        node, view = self.st.node, self.st.view
        up = view.send_to(self.st.me)
        book = self.st.book
        node.ready = not book.pending and not self.st.unchecked and self.root_ready()
        had_final = node.final is not None
        if (not had_final and node.ready and up < 0 and len(self.st.plan.order) > 1
                and not node.derived().reporters and node.compose() is not None):
            raise RunFailed("every other member is gone: nobody is left to audit my work")
        msgs = node.tick()
        if node.final is not None and not had_final:  # I am the acting root: I made the Final
            self.sign_final()
        if self.root_audited():
            msgs = [(d, Summary(m.lo, m.hi, m.col_lo, m.col_hi, m.xor, m.takeovers, FLAG_AUDITED_PARENT)
                     if isinstance(m, Summary) else m) for d, m in msgs]
        by_dest: dict[int, list] = {}
        for dst, m in msgs:
            by_dest.setdefault(dst, []).append(m)
        # records go where my summary goes; the acting root gives its records to its reporters;
        # what I mined for a gone position also goes to its composer, with the gone member's records
        rec_dests = [up] if up >= 0 else node.derived().reporters
        for d in rec_dests:
            by_dest.setdefault(d, [])
        ack = up if up >= 0 and self.st.final is not None and up not in self.st.acked_to else -1
        if ack >= 0:  # I hold a Final I checked: the member I report to need not stay for me
            by_dest.setdefault(ack, [])
            self.st.acked_to.add(ack)
        # a message can be lost (zenoh drops under congestion, a receiver drops what it has no
        # room for): the records I sent go again with what the receiver needs them to check (my
        # summary, the Final, an Own), and the acting root sends its records to its reporters
        # every round until one says it audited them all (it cannot make the Final before)
        root_waits = up < 0 and not had_final and not self.root_ready()
        out: list[Action] = []
        for dst, aggs in by_dest.items():
            out += self._envelope(dst, aggs, dst in rec_dests, dst == ack, root_waits)
        return out

    def _envelope(self, dst: int, aggs: list, all_records: bool, ack: bool = False,
                  root_waits: bool = False) -> list[Action]:
        name = self.st.plan.order[dst]
        book = self.st.book
        owns = [m for m in aggs if isinstance(m, Own)]
        finals = [m for m in aggs if isinstance(m, Final)]
        sums = [m for m in aggs if isinstance(m, Summary)]
        new = book.unsent(name) if all_records else []
        old = book.resend(name) if all_records and (sums or finals or root_waits) else []
        evidence = {}
        for m in owns:
            if not all_records:
                new += book.unsent(name, of=m.v)
                old += book.resend(name, of=m.v)
            # the evidence goes with the first Own and every EVIDENCE_EVERY-th after it: the
            # receiver cannot check the Own without it, and the envelope that carried it may be lost
            n = book.own_sends.get((name, m.v), 0)
            book.own_sends[(name, m.v)] = n + 1
            if n % EVIDENCE_EVERY == 0:
                evidence[str(m.v)] = book.evidence(m.v, self.st.plan.order[m.v])
        if not owns and not finals and not sums and not new and not old and not ack:
            return []
        body: dict = {"from": self.st.cfg.me, "records": [r.to_json() for r in new + old],
                      "agg": [m.encode().hex() for m in owns]}
        if ack:
            body["have_final"] = True
        if evidence:
            body["evidence"] = evidence
        if sums:
            body["sum"] = self._sum_field(sums[-1])
        if finals and self.st.chain is not None:
            body["final"] = self._final_field()
        self.st.sent += 1
        if new:
            log.info("%s: published records %d..%d to %s", self.st.cfg.me, min(r.j for r in new), max(r.j for r in new),
                     name)
            self.st.book.mark_sent(name, new)
        return [Send(name, self.st.id.seal(body))]

    def _sum_field(self, m: Summary) -> dict:
        """My summary, signed on its own, with the parts it is the XOR of: the positions I
        composed and the signed summaries I used."""
        owns, subs = self.st.node.parts()
        data = m.encode()
        return {"data": data.hex(), "sig": R.sign_summary(self.st.id, self.st.cfg.session, data),
                "own": [[v, f"{x:016x}"] for v, x in owns],
                "subs": [[lo, *self.st.sum_sigs[lo]] for lo in subs]}

    def _my_link(self) -> dict | None:
        s = self.st.node.compose()
        if s is None:
            return None
        return {"from": self.st.cfg.me, **self._sum_field(s)}

    def sign_final(self) -> None:
        link = self._my_link()
        self.st.chain = [link] if link is not None else []
        self.st.final_sig = R.sign_tagged(self.st.id, "final", self.st.cfg.session, self.st.node.final.encode())

    def _final_field(self) -> dict:
        chain = list(self.st.chain or [])
        if self.st.view.acting_root() != self.st.me:
            link = self._my_link()
            if link is not None:
                chain.append(link)
        return {"data": self.st.node.final.encode().hex(), "sig": self.st.final_sig, "chain": chain}

    def root_audited(self) -> bool:
        """Did I audit every piece of the acting root I report to? (said in my summary's flags)"""
        up = self.st.view.send_to(self.st.me)
        if up < 0 or up != self.st.view.acting_root():
            return False
        return self.st.book.audited_by_me(up, self.st.plan.order[up])

    def root_ready(self) -> bool:
        """The acting root waits until a member it reports to audited all its pieces (one: a
        member that never says so must not hold the run; the others check the root's own part
        against their audits before they take the Final, asking again until they can)."""
        node, view = self.st.node, self.st.view
        if view.acting_root() != self.st.me:
            return True
        reporters = set(node.derived().reporters)
        if not reporters:
            return True
        return any(s.flags & FLAG_AUDITED_PARENT for lo, s in node.got.items() if node.got_from.get(lo) in reporters)
