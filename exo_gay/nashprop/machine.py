"""One NashProp member as a pure state machine: typed events in (events.py), actions out.

No zenoh and no clock here: the shell (run.py) turns callbacks into events, calls ``sync()`` at
each sync point, and carries out the actions (send, broadcast, mine a piece, audit a record).
Every value that reaches "verified" is checked here by the member that prints it: a Final is
taken only when the acting root (as this member sees it) signed it and it carries the chain of
signed summaries from the whole tree down to this member's own; a takeover's Own only from the
member the takeover rule names, matching the records it and the gone member signed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from ..errors import InputError, RunFailed
from ..spi import hex64
from . import checks
from . import records as R
from .aggregate import AggNode, Final, Own, Summary, decode
from .events import Accusation, Action, Audit, Audited, Broadcast, Event, Failed, Live, Message, Mine, Mined, Send
from .ledger import Ledger
from .plan import Plan, Tree, View
from .roster import Roster

log = logging.getLogger(__name__)

FLAG_AUDITED_PARENT = 1


@dataclass(frozen=True)
class Config:
    seed: int
    total: int
    me: str
    session: str
    k: int = 4
    pieces: int = 8


class MemberState:
    """``leaf(start, count)`` recomputes a leaf (to re-check an accusation)."""

    def __init__(self, cfg: Config, plan: Plan, roster: Roster, identity: R.Identity,
                 leaf: Callable[[int, int], int]):
        self.cfg, self.plan, self.roster, self.id, self.leaf = cfg, plan, roster, identity, leaf
        self.tree = Tree(plan.n, cfg.k)
        self.view = View(self.tree)
        self.me = plan.position(cfg.me)
        self.node = AggNode(self.me, self.tree, plan.start, self.view)
        self.pos_of = {name: i for i, name in enumerate(plan.order)}
        self.book = Ledger(plan, cfg.pieces)
        self.accused: dict[str, str] = {}  # liar -> who named it
        self.unchecked: dict[str, tuple[int, checks.SignedSum, bytes, dict]] = {}
        self.sum_sigs: dict[int, list[str]] = {}  # subtree root -> [summary hex, signature hex, signer]
        self.owns_pending: dict[int, tuple[int, int, dict[int, int]]] = {}  # v -> (src, xor, v's records)
        self.chain: list[dict] | None = None  # the Final's chain down to me, once I hold the Final
        self.final_sig = ""
        self.refused: str | None = None  # the last reason a Final was refused
        self.gone_at_final: tuple[list[str], list[str]] | None = None
        self.mined_colors = self.taken_colors = 0
        self.mine_seconds = 0.0
        self.sent = self.received = 0
        self._could_send = (False, False)
        for name in plan.order:  # whoever left while we settled is gone
            if name not in roster.alive:
                self.view.mark_dead(self.pos_of[name])

    # ------------------------------------------------------------------ entry points
    def start(self) -> list[Action]:
        return self._schedule()

    def handle(self, ev: Event) -> list[Action]:
        if isinstance(ev, Live):
            self._on_live(ev)
            return self._schedule()
        if isinstance(ev, Message):
            return self._on_message(ev)
        if isinstance(ev, Mined):
            self.book.mined(ev.rec)
            self.mine_seconds += ev.seconds
            self.mined_colors += ev.rec.count
            if ev.rec.of != self.me:
                self.taken_colors += ev.rec.count
            self._complete_owns()
            return []
        if isinstance(ev, Audited):
            return self._on_audited(ev)
        if isinstance(ev, Accusation):
            self._on_accusation(ev)
            return self._schedule()
        if isinstance(ev, Failed):
            raise RunFailed(ev.reason)
        return []

    def settle_checks(self) -> list[Action]:
        """After a batch of events: summaries and Owns waiting for audits."""
        out = self._check_summaries()
        self._check_owns()
        self._complete_owns()
        return out

    def wants_sync(self) -> bool:
        """A subtree that just became complete (and audited) goes up at once, not at the next tick."""
        node = self.node
        can = (node.final is None and not self.book.pending and node.compose() is not None and self._root_ready(),
               self._root_audited())
        urgent = can[0] and can != self._could_send
        self._could_send = can
        return urgent

    @property
    def final(self) -> Final | None:
        return self.node.final if self.chain is not None else None

    # ------------------------------------------------------------------ membership
    def _on_live(self, ev: Live) -> None:
        change = self.roster.apply(ev.name, ev.pub, ev.up, ev.mac)
        if self.roster.conflict:
            raise RunFailed(self.roster.conflict)
        p = self.pos_of.get(ev.name)
        if p is None or change is None:
            return
        if change == "back" and self.view.out(p) and p not in self.view.excluded and self.final is None:
            raise RunFailed(f"{ev.name} came back after it was counted gone (a healed partition): "
                            f"the two sides mined each other's ranges and cannot merge")
        if change == "down" and not self.view.out(p):
            log.info("%s: %s is gone", self.cfg.me, ev.name)
            self.view.mark_dead(p)
            # a gone member's summary counts only if every record under it was audited
            if any(g.rec.miner == ev.name and g.state != "ok" for g in self.book.got.values()):
                self.node.forget(p)
            self.book.pending = {k for k in self.book.pending if self.book.got[k].rec.miner != ev.name}
            self.unchecked.pop(ev.name, None)
            self.node.view_changed()

    # ------------------------------------------------------------------ mining
    def _schedule(self) -> list[Action]:
        out: list[Action] = []
        if self.node.final is not None:  # members leaving after the Final leave nothing to mine
            return out
        for v in self.node.needs():
            for j, (a, c) in enumerate(self.book.grid(v)):
                key = (v, j)
                if key in self.book.scheduled or key in self.book.mine_vals:
                    continue
                g = self.book.got.get(key)
                if g is not None and g.state == "ok" and g.rec.miner not in self.accused:
                    continue  # a record I audited: reused, not re-mined
                self.book.scheduled.add(key)
                if v != self.me:
                    log.info("%s: taking over piece %d of position %d (%s)", self.cfg.me, j, v,
                             "unaudited" if g is not None else "never received")
                out.append(Mine(v, j, a, c, 1 if v == self.me else 2))
        self._complete_owns()
        return out

    def _complete_owns(self) -> None:
        for v in self.node.needs():
            x = self.book.xor_of(v, set(self.plan.order), self.accused)
            if x is not None:
                self.node.set_own(v, x)

    # ------------------------------------------------------------------ messages
    def _on_message(self, ev: Message) -> list[Action]:
        src = self.pos_of.get(ev.sender)
        if src is None or src in self.view.excluded:
            return []
        try:
            body = R.open_envelope(ev.data, self.roster.key_of(ev.sender))
        except InputError:
            log.debug("%s: refused a message from %s", self.cfg.me, ev.sender)
            return []
        if body.get("from") != ev.sender:
            return []
        self.received += 1
        out: list[Action] = []
        for d in body.get("records", [])[:4096] if isinstance(body.get("records"), list) else []:
            try:
                rec = R.PieceRecord.from_json(d)
            except InputError:
                continue
            if rec.miner == ev.sender and self.book.fits(rec):
                g = self.book.take(rec, ev.data)
                if g is not None:
                    out.append(Audit((rec.of, rec.j), g))
        sm = body.get("sum")
        if isinstance(sm, dict):
            s = checks.parse_sum(self.roster.key_of, self.cfg.session, self.node.span, ev.sender, sm)
            if s is not None and s.reason:
                out += self._accuse_sum(ev.sender, s.reason, ev.data, [])
            elif s is not None:
                self.unchecked[ev.sender] = (src, s, ev.data, sm)
        aggs = body.get("agg")
        for item in aggs[:64] if isinstance(aggs, list) else []:
            try:
                msg = decode(bytes.fromhex(item))
            except (TypeError, ValueError):
                continue
            if isinstance(msg, Own):
                self._take_own(ev.sender, src, msg, body.get("evidence"))
        if isinstance(body.get("final"), dict) and self.node.final is None:
            out += self._take_final(ev.sender, src, body["final"])
        return out

    def _take_own(self, sender: str, src: int, own: Own, evidence) -> None:
        """An Own counts only from the member the takeover rule names as v's miner (in my view),
        and only once the records it rests on (the gone member's, signed by it, and the ones
        the miner signed and I audited) XOR to it."""
        v = own.v
        if not 0 <= v < self.plan.n or not self.view.out(v) or self.view.miner(v) != src:
            log.info("%s: refused an Own for position %d from %s (not the miner the takeover rule names)",
                     self.cfg.me, v, sender)
            return
        if self.node.own.get(v) == own.xor or v in self.owns_pending and self.owns_pending[v][1] == own.xor:
            return
        gone = self.plan.order[v]
        vals: dict[int, int] = {}
        raws = evidence.get(str(v), []) if isinstance(evidence, dict) else []
        for raw in raws[:64] if isinstance(raws, list) else []:
            try:
                body = R.open_envelope(str(raw).encode(), self.roster.key_of(gone))
                for d in body.get("records", []):
                    rec = R.PieceRecord.from_json(d)
                    if rec.miner == gone and rec.of == v and self.book.fits(rec):
                        vals[rec.j] = rec.xor
            except (InputError, AttributeError, TypeError):
                continue
        self.owns_pending[v] = (src, own.xor, vals)

    def _check_owns(self) -> None:
        for v, (src, claimed, vals) in list(self.owns_pending.items()):
            if self.view.miner(v) != src or src in self.view.excluded:
                del self.owns_pending[v]
                continue
            sender = self.plan.order[src]
            have = dict(vals)
            for j in range(len(self.book.grid(v))):
                g = self.book.got.get((v, j))
                if j not in have and g is not None and g.state == "ok" and g.rec.miner in (sender, self.plan.order[v]):
                    have[j] = g.rec.xor
            x = checks.xor_of_records(have, len(self.book.grid(v)))
            if x is None:
                continue
            del self.owns_pending[v]
            if x != claimed:
                log.warning("%s: %s's Own for position %d is not the XOR of its records", self.cfg.me, sender, v)
                self._exclude(sender, self.cfg.me)
            else:
                self.node.receive(src, Own(v, claimed))

    def _take_final(self, sender: str, src: int, fin: dict) -> list[Action]:
        top = self.view.top(self.me)
        mine = self.node.compose()
        chk = checks.check_final(self.roster.key_of, self.cfg.session, self.node.span, self.plan.n, self.cfg.total,
                                 self.plan.order, fin, sender, self.view.acting_root(), self.view.out,
                                 self.cfg.me, top, mine.xor if mine is not None else None)
        if chk.reason is None and src == self.view.acting_root():
            # I report to the root: its own part must be the XOR of its records I audited
            x = self.book.xor_of(src, {sender})
            if x is None:
                chk = checks.FinalCheck(None, [], "the root's records are not all audited yet", later=True)
            elif x != chk.root_own:
                log.warning("%s: the root %s claims an own part that is not its records' XOR", self.cfg.me, sender)
                self._exclude(sender, self.cfg.me)
                return []
        if chk.reason is not None:
            if self.refused != chk.reason:
                log.info("%s: refused a Final from %s: %s", self.cfg.me, sender, chk.reason)
            self.refused = chk.reason
            return []
        if self.node.receive(src, chk.final):
            self.chain, self.final_sig = chk.chain, fin["sig"]
        return []

    # ------------------------------------------------------------------ summaries
    def _check_summaries(self) -> list[Action]:
        """Take a reporter's summary only once its own range's records are audited and agree
        with the part it claims for itself."""
        out: list[Action] = []
        for sender, (src, s, data, sm) in list(self.unchecked.items()):
            if sender in self.accused:
                del self.unchecked[sender]
                continue
            claimed = dict(s.owns).get(src)
            if claimed is None:
                del self.unchecked[sender]
                out += self._accuse_sum(sender, "its summary leaves out its own range", data, [])
                continue
            x = self.book.xor_of(src, {sender})
            if x is None:
                continue
            del self.unchecked[sender]
            if x != claimed:
                raws = [self.book.got[(src, j)].raw.decode() for j in range(len(self.book.grid(src)))
                        if (src, j) in self.book.got]
                out += self._accuse_sum(
                    sender, "the XOR it claims for its range is not that of its records", data, raws)
            elif self.node.receive(src, s.msg):
                self.sum_sigs[s.msg.lo] = [sm["data"], sm["sig"], sender]
        return out

    def _accuse_sum(self, liar: str, reason: str, envelope: bytes, records: list[str]) -> list[Action]:
        log.warning("%s: %s sent a false summary: %s", self.cfg.me, liar, reason)
        acc = self.id.seal({"kind": "sum", "from": self.cfg.me, "accused": liar, "envelope": envelope.decode(),
                            "records": records})
        self._exclude(liar, self.cfg.me)
        return [Broadcast(acc)]

    # ------------------------------------------------------------------ audits and accusations
    def _on_audited(self, ev: Audited) -> list[Action]:
        g, key = ev.got, ev.key
        if self.book.got.get(key) is not g:
            return []
        if ev.outcome == "unanswered" and g.rec.miner in self.roster.alive and g.rec.miner not in self.accused:
            return [Audit(key, g)]  # ask again
        self.book.pending.discard(key)
        log.info("%s: audit of %s piece %d of position %d: %s", self.cfg.me, g.rec.miner, g.rec.j, g.rec.of,
                 ev.outcome)
        if ev.outcome == "ok":
            g.state = "ok"
            return []
        g.state = "bad"
        out: list[Action] = []
        if ev.outcome == "lie":
            acc = {"from": self.cfg.me, "accused": g.rec.miner, "of": g.rec.of, "j": g.rec.j,
                   "envelope": g.raw.decode(), **(ev.evidence or {})}
            out.append(Broadcast(self.id.seal(acc)))
            self._exclude(g.rec.miner, self.cfg.me)
        elif ev.outcome == "bad" and g.rec.miner in self.pos_of:
            # an answer that does not lead to its own signed root proves nothing to others: this
            # member stops trusting it alone (what it reported is mined again here); if the others
            # keep routing through it, the run ends in a timeout, never in a wrong result
            self._exclude(g.rec.miner, self.cfg.me)
        return out + self._schedule()

    def _exclude(self, liar: str, by: str) -> None:
        if liar in self.accused:
            return
        log.warning("%s: %s named as a liar by %s", self.cfg.me, liar, by)
        self.accused[liar] = by
        if liar == self.cfg.me:
            raise RunFailed(f"named as a liar by {by} (an audit proved a record or summary of mine false)")
        self.view.mark_excluded(self.pos_of[liar])
        self.book.drop_miner(liar)
        self.unchecked.pop(liar, None)
        self.node.view_changed()

    def _on_accusation(self, ev: Accusation) -> None:
        """Accept an accusation only when it proves itself (checks.py re-checks it)."""
        if ev.sender not in self.pos_of:
            return
        try:
            acc = R.open_envelope(ev.data, self.roster.key_of(ev.sender))
        except InputError:
            return
        liar = acc.get("accused")
        if acc.get("from") != ev.sender or liar not in self.pos_of or liar in self.accused:
            return
        if acc.get("kind") == "sum":
            v = self.pos_of[liar]
            holds = checks.sum_accusation(self.roster.key_of, self.cfg.session, self.node.span, acc, liar, v,
                                          self.book.grid(v))
        else:
            holds = checks.leaf_accusation(self.roster.key_of, self.cfg.session, acc, liar, self.leaf)
        if holds:
            self._exclude(liar, ev.sender)

    # ------------------------------------------------------------------ one sync point
    def sync(self) -> list[Action]:
        node, view = self.node, self.view
        up = view.send_to(self.me)
        book = self.book
        node.ready = not book.pending and not self.unchecked and self._root_ready()
        had_final = node.final is not None
        if (not had_final and node.ready and up < 0 and len(self.plan.order) > 1
                and not node.derived().reporters and node.compose() is not None):
            raise RunFailed("every other member is gone: nobody is left to audit my work")
        msgs = node.tick()
        if node.final is not None and not had_final:  # I am the acting root: I made the Final
            self._sign_final()
        if self._root_audited():
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
        out: list[Action] = []
        for dst, aggs in by_dest.items():
            out += self._envelope(dst, aggs, dst in rec_dests)
        return out

    def _envelope(self, dst: int, aggs: list, all_records: bool) -> list[Action]:
        name = self.plan.order[dst]
        owns = [m for m in aggs if isinstance(m, Own)]
        new = self.book.unsent(name) if all_records else []
        evidence = {}
        for m in owns:
            if not all_records:
                new += self.book.unsent(name, of=m.v)
            if (name, m.v) not in self.book.sent_evidence:
                evidence[str(m.v)] = self.book.evidence(m.v, self.plan.order[m.v])
        finals = [m for m in aggs if isinstance(m, Final)]
        sums = [m for m in aggs if isinstance(m, Summary)]
        if not owns and not finals and not sums and not new:
            return []
        body: dict = {"from": self.cfg.me, "records": [r.to_json() for r in new],
                      "agg": [m.encode().hex() for m in owns]}
        if evidence:
            body["evidence"] = evidence
        if sums:
            body["sum"] = self._sum_field(sums[-1])
        if finals and self.chain is not None:
            body["final"] = self._final_field()
        self.sent += 1
        if new:
            log.info("%s: published records %d..%d to %s", self.cfg.me, min(r.j for r in new), max(r.j for r in new),
                     name)
            self.book.mark_sent(name, new)
        self.book.sent_evidence.update((name, int(v)) for v in evidence)
        return [Send(name, self.id.seal(body))]

    def _sum_field(self, m: Summary) -> dict:
        """My summary, signed on its own, with the parts it is the XOR of: the positions I
        composed and the signed summaries I used."""
        owns, subs = self.node.parts()
        data = m.encode()
        return {"data": data.hex(), "sig": R.sign_summary(self.id, self.cfg.session, data),
                "own": [[v, f"{x:016x}"] for v, x in owns],
                "subs": [[lo, *self.sum_sigs[lo]] for lo in subs]}

    def _my_link(self) -> dict | None:
        s = self.node.compose()
        if s is None:
            return None
        return {"from": self.cfg.me, **self._sum_field(s)}

    def _sign_final(self) -> None:
        link = self._my_link()
        self.chain = [link] if link is not None else []
        self.final_sig = R.sign_tagged(self.id, "final", self.cfg.session, self.node.final.encode())

    def _final_field(self) -> dict:
        chain = list(self.chain or [])
        if self.view.acting_root() != self.me:
            link = self._my_link()
            if link is not None:
                chain.append(link)
        return {"data": self.node.final.encode().hex(), "sig": self.final_sig, "chain": chain}

    def _root_audited(self) -> bool:
        """Did I audit every piece of the acting root I report to? (said in my summary's flags)"""
        up = self.view.send_to(self.me)
        if up < 0 or up != self.view.acting_root():
            return False
        return self.book.audited_by_me(up, self.plan.order[up])

    def _root_ready(self) -> bool:
        """The acting root waits until a member it reports to audited all its pieces."""
        node, view = self.node, self.view
        if view.acting_root() != self.me:
            return True
        reporters = set(node.derived().reporters)
        if not reporters:
            return True
        return any(s.flags & FLAG_AUDITED_PARENT for lo, s in node.got.items() if node.got_from.get(lo) in reporters)

    # ------------------------------------------------------------------ the result
    def waiting_for(self) -> str:
        needs = self.node.needs()
        if needs:
            return f"mining position(s) {needs}"
        if self.book.pending:
            return f"{len(self.book.pending)} audit(s)"
        if self.refused:
            return f"a Final I can check (the last one refused: {self.refused})"
        return "the rest of the tree"

    def result(self, elapsed: float) -> dict:
        f, plan = self.node.final, self.plan
        return {
            "xor": hex64(f.xor), "verified": True, "seed": self.cfg.seed, "total": f.total,
            "members": list(plan.order), "n": plan.n, "me": self.cfg.me, "position": self.me,
            "range": list(plan.range_of(self.me)), "fan_out": self.cfg.k, "session": self.cfg.session,
            "gone": sorted(plan.order[p] for p in self.view.dead),
            "excluded": sorted(plan.order[p] for p in self.view.excluded),
            "named_by": dict(sorted(self.accused.items())),
            "takeovers": f.takeovers, "acting_root": plan.order[f.root],
            "checked_chain": len(self.chain or []),
            "colors_per_second": f.total / elapsed if elapsed > 0 else None,
            "my_colors": self.mined_colors, "taken_over_colors": self.taken_colors,
            "my_colors_per_second": self.mined_colors / self.mine_seconds if self.mine_seconds else None,
            "elapsed_s": round(elapsed, 3), "messages_sent": self.sent, "messages_received": self.received,
        }
