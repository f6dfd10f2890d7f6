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
from .aggregate import AggNode, Final, Own, decode
from .events import Accusation, Action, Audit, Audited, Broadcast, Event, Failed, Live, Message, Mine, Mined
from .inbox import Inbox
from .ledger import Ledger
from .outbox import FLAG_AUDITED_PARENT, Outbox
from .plan import Plan, Tree, View
from .roster import Roster

log = logging.getLogger(__name__)

__all__ = ["FLAG_AUDITED_PARENT", "Config", "MemberState"]


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
        self.acked: set[int] = set()  # members reporting to me that said they hold the Final
        self.acked_to: set[int] = set()  # members I told I hold it
        self.answered: dict[int, int] = {}  # summaries received (and answered) since I hold the Final
        self.out, self.inbox = Outbox(self), Inbox(self)
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
        out = self.inbox.check_summaries()
        self.inbox.check_owns()
        self._complete_owns()
        return out

    def wants_sync(self) -> bool:
        """A subtree that just became complete (and audited) goes up at once, not at the next tick."""
        node = self.node
        can = (node.final is None and not self.book.pending and node.compose() is not None and self.out.root_ready(),
               self.out.root_audited())
        urgent = can[0] and can != self._could_send
        self._could_send = can
        return urgent

    def may_leave(self) -> bool:
        """Holding a checked Final, and every member reporting to me holds one too (it said so),
        or I answered it 20 times (one that never says so cannot hold me past that); a member
        still busy (auditing, mining) keeps me until --timeout, where I print my result."""
        if self.final is None:
            return False
        reporters = self.node.derived().reporters
        return all(r in self.acked or self.view.out(r) or self.answered.get(r, 0) >= 20 for r in reporters)

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
        if body.get("have_final") is True:
            self.acked.add(src)
        sm = body.get("sum")
        if isinstance(sm, dict) and self.node.final is not None and src not in self.acked:
            self.answered[src] = self.answered.get(src, 0) + 1  # a reporter still without the Final
        if isinstance(sm, dict):
            s = checks.parse_sum(self.roster.key_of, self.cfg.session, self.node.span, ev.sender, sm)
            if s is not None and s.reason:
                out += self.inbox.accuse_sum(ev.sender, s.reason, ev.data, [])
            elif s is not None:
                self.unchecked[ev.sender] = (src, s, ev.data, sm)
        aggs = body.get("agg")
        for item in aggs[:64] if isinstance(aggs, list) else []:
            try:
                msg = decode(bytes.fromhex(item))
            except (TypeError, ValueError):
                continue
            if isinstance(msg, Own):
                self.inbox.take_own(ev.sender, src, msg, body.get("evidence"))
        if isinstance(body.get("final"), dict) and self.node.final is None:
            out += self.inbox.take_final(ev.sender, src, body["final"])
        return out

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
        return self.out.sync()

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

    def freeze(self) -> None:
        """Who was gone and excluded when the Final came (members leave after it)."""
        order = self.plan.order
        self.gone_at_final = (sorted(order[p] for p in self.view.dead), sorted(order[p] for p in self.view.excluded))

    def result(self, elapsed: float) -> dict:
        f, plan = self.node.final, self.plan
        if self.gone_at_final is None:
            self.freeze()
        return {
            "xor": hex64(f.xor), "verified": True, "seed": self.cfg.seed, "total": f.total,
            "members": list(plan.order), "n": plan.n, "me": self.cfg.me, "position": self.me,
            "range": list(plan.range_of(self.me)), "fan_out": self.cfg.k, "session": self.cfg.session,
            "gone": self.gone_at_final[0], "excluded": self.gone_at_final[1],
            "named_by": dict(sorted(self.accused.items())),
            "takeovers": f.takeovers, "acting_root": plan.order[f.root],
            "checked_chain": len(self.chain or []),
            "colors_per_second": f.total / elapsed if elapsed > 0 else None,
            "my_colors": self.mined_colors, "taken_over_colors": self.taken_colors,
            "my_colors_per_second": self.mined_colors / self.mine_seconds if self.mine_seconds else None,
            "elapsed_s": round(elapsed, 3), "messages_sent": self.sent, "messages_received": self.received,
        }
