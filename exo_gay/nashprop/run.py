"""One NashProp member: the thin shell around the state machine (machine.py) that does the I/O.

It opens the zenoh session (transport.py), settles the member set, turns zenoh callbacks and its
worker's results into typed events (events.py), calls the machine's ``sync()`` every ``--sync``
seconds, and carries out the actions the machine returns. The shell also holds the bounds: a
message is refused before it is parsed when its sender is not a member with a known key, when
it is larger than MAX_MESSAGE, or when that sender already has MAX_QUEUED messages (or as many
accusations) waiting; so the memory messages can hold is at most members x 2 x MAX_QUEUED x
MAX_MESSAGE (n x 8 MiB), and the deadline is checked between every two events.
"""

from __future__ import annotations

import logging
import os
import queue
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import audit
from ..errors import InputError, RunFailed
from ..runner import reduce_range
from . import checks
from . import records as R
from .events import Accusation, Audit, Audited, Broadcast, Failed, Live, Message, Mine, Mined, Send
from .machine import Config, MemberState
from .plan import Plan
from .roster import Roster

log = logging.getLogger(__name__)

MAX_QUEUED = 4  # messages waiting per sender; more are dropped (the sender resends at its next sync)
MAX_BATCH = 256  # events handled between two looks at the clock


def _signing_key(seed: bytes | None):
    if seed is None:
        return None
    from nacl.signing import SigningKey

    return SigningKey(seed)


@dataclass
class Options:
    seed: int
    total: int
    me: str
    session: str
    members: list[str] | None = None
    expect: int | None = None
    k: int = 4
    pieces: int = 8
    leaves: int = 32
    audit_leaves: int = 2
    sync: float = 2.0
    wait: float = 30.0
    timeout: float = 600.0
    threads: int | None = None
    backend: str = "auto"
    listen: list[str] = field(default_factory=lambda: ["tcp/127.0.0.1:0"])
    connect: list[str] = field(default_factory=list)
    scout: bool = True
    interface: str = "lo"
    key: bytes | None = None  # the shared key (--key-file): membership is closed to its holders
    secret: bytes | None = None  # a key pair's seed: this member's signing key for the run
    trusted: dict[str, str] | None = None  # with key pairs: every member's public key (hex)


class Member:
    """One member's run. ``on_progress(colors, scheduled)`` is called as pieces are mined (colors
    just mined, and all this member has to mine so far, takeovers included); ``on_settled(names)``
    once the member set is agreed."""

    def __init__(self, opt: Options, on_progress: Callable[[int, int], None] | None = None,
                 on_settled: Callable[[list[str]], None] | None = None):
        self.opt = opt
        self.on_progress = on_progress or (lambda done, scheduled: None)
        self.on_settled = on_settled or (lambda names: None)
        self.id = R.Identity(_signing_key(opt.secret))
        self.roster = Roster(opt.session, opt.key, opt.trusted)
        self.events: queue.Queue = queue.Queue()
        self.tasks: queue.PriorityQueue = queue.PriorityQueue()
        self.trees: dict[tuple[int, int], audit.Tree] = {}
        self.view_names: list[str] | None = None
        self.scheduled_colors = 0
        self.dropped = 0
        self._seq = 0
        self._queued: dict[tuple[str, str], int] = {}  # (message or accusation, sender) -> waiting
        self._members: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._bus = None  # set once the session is open: tokens reported gone are checked on it
        self._checking: set[tuple[str, str]] = set()  # tokens reported gone, being checked
        self.stop = threading.Event()

    # ------------------------------------------------------------------ zenoh callbacks (zenoh's threads)
    def _on_member(self, name: str, pub: str, up: bool, mac: str | None) -> None:
        if not self.roster.token_ok(name, pub, mac):  # without the key, a token is not even queued
            return
        if up or self._bus is None:
            self.events.put(Live(name, pub, up, mac))
            return
        with self._lock:  # one check per token at a time
            if (name, pub) in self._checking:
                return
            self._checking.add((name, pub))
        threading.Thread(target=self._confirm_gone, args=(name, pub, mac), daemon=True).start()

    def _confirm_gone(self, name: str, pub: str, mac: str | None) -> None:
        """A token reported gone counts once a liveliness query no longer finds it: zenoh can
        report a live member's token gone (a route to it closed while another stays), and a
        member counted gone has its range mined by others while it still reports. While the
        token answers, it is asked again every second, so a real departure still counts."""
        try:
            while not self.stop.is_set():
                try:
                    present = self._bus.token_present(name, pub, mac, timeout=1.0)
                except Exception:  # noqa: BLE001 - the session is closing
                    return
                if not present:
                    self.events.put(Live(name, pub, False, mac))
                    return
                log.debug("%s's token was reported gone but answers: still counted up", name)
                self.stop.wait(1.0)
        finally:
            with self._lock:
                self._checking.discard((name, pub))

    def _admit(self, sender: str, payload, kind: str = "message") -> bytes | None:
        """The payload's bytes when its sender may queue one more message of that kind; None
        (dropped) otherwise. Nothing is parsed here. Messages and accusations have their own
        room: a burst of accusations (one per lying piece audited) must not crowd out the
        sender's records and summary."""
        if (self.roster.key_of(sender) is None or len(payload) > R.MAX_MESSAGE
                or (self.view_names is not None and sender not in self._members)):
            self.dropped += 1
            return None
        with self._lock:
            if self._queued.get((kind, sender), 0) >= MAX_QUEUED:
                self.dropped += 1
                log.debug("dropped one %s from %s (%d already wait)", kind, sender, MAX_QUEUED)
                return None
            self._queued[(kind, sender)] = self._queued.get((kind, sender), 0) + 1
        return payload.to_bytes()

    def _on_message(self, sender: str, payload) -> None:
        data = self._admit(sender, payload)
        if data is not None:
            self.events.put(Message(sender, data))

    def _on_accuse(self, sender: str, payload) -> None:
        data = self._admit(sender, payload, "accusation")
        if data is not None:
            self.events.put(Accusation(sender, data))

    def _serve_audit(self, payload: bytes) -> bytes | None:
        try:
            q = R.loads(payload, "audit query")
            tree = self.trees.get((int(q["of"]), int(q["j"])))
            leaves = [int(k) for k in q["leaves"]][:64]
        except (InputError, KeyError, TypeError, ValueError):
            return None
        if tree is None or not all(0 <= k < tree.n_leaves for k in leaves):
            return None
        return R.canonical(R.answer(tree, leaves))

    def _serve_view(self, payload: bytes) -> bytes:
        return R.canonical({"view": self.view_names})

    def _next(self, timeout: float):
        ev = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
        if isinstance(ev, Message | Accusation):
            with self._lock:
                self._queued[("message" if isinstance(ev, Message) else "accusation", ev.sender)] -= 1
        return ev

    # ------------------------------------------------------------------ membership
    def _drain_live(self, timeout: float, early: list) -> None:
        try:
            ev = self._next(timeout)
            while True:
                if isinstance(ev, Live):
                    self.roster.apply(ev.name, ev.pub, ev.up, ev.mac)
                else:
                    early.append(ev)
                ev = self._next(0)
        except queue.Empty:
            return

    def _settle(self, bus, early: list) -> list[str]:
        """The member set, agreed without a coordinator; RunFailed (exit 1) when it cannot be."""
        opt, roster = self.opt, self.roster
        deadline = time.monotonic() + opt.wait
        while True:
            if roster.conflict:
                raise RunFailed(roster.conflict)
            if opt.members is not None:
                missing = set(opt.members) - roster.alive
                if not missing:
                    until = time.monotonic() + 0.5  # the rest of the tokens' history: a second key for a name
                    while time.monotonic() < until:
                        self._drain_live(until - time.monotonic(), early)
                    if roster.conflict:
                        raise RunFailed(roster.conflict)
                    self.view_names = sorted(opt.members)
                    return self.view_names
                if time.monotonic() > deadline:
                    raise RunFailed(f"waited {opt.wait:g}s: member(s) {', '.join(sorted(missing))} never appeared")
            else:
                seen = len(roster.alive)
                if seen > opt.expect:
                    raise RunFailed(f"expected {opt.expect} members, saw {seen}: {', '.join(sorted(roster.alive))}")
                if seen == opt.expect:
                    return self._agree(bus, deadline, early)
                if time.monotonic() > deadline:
                    raise RunFailed(f"expected {opt.expect} members, saw {seen} in {opt.wait:g}s "
                                    f"({', '.join(sorted(roster.alive))})")
            self._drain_live(0.1, early)

    def _agree(self, bus, deadline: float, early: list) -> list[str]:
        """--expect: every member of my view must have settled on the same view."""
        k, roster = self.opt.expect, self.roster
        self.view_names = mine = sorted(roster.alive)
        while True:
            views = {}
            for name, data in bus.ask("view", "*", b"", timeout=1.0):
                try:
                    views[name] = R.loads(data, "view").get("view")
                except (InputError, AttributeError):
                    continue
            settled = [v for v in views.values() if v]
            without_me = next((v for v in settled if self.opt.me not in v), None)
            if without_me is not None:
                raise RunFailed(f"the member set was settled without me ({', '.join(map(str, without_me))}): "
                                f"joined late")
            if all(views.get(n) == mine for n in mine):
                return mine
            if any(v != mine for v in settled):
                raise RunFailed("members settled on different member sets (a member joined while others started)")
            if time.monotonic() > deadline:
                raise RunFailed(f"waited {self.opt.wait:g}s for {k} members to agree on the member set")
            self._drain_live(0.2, early)
            if roster.conflict:
                raise RunFailed(roster.conflict)
            if len(roster.alive) > k:
                raise RunFailed(f"expected {k} members, saw {len(roster.alive)}: {', '.join(sorted(roster.alive))}")

    # ------------------------------------------------------------------ the worker
    def _leaf(self, a: int, c: int) -> int:
        return reduce_range(self.opt.seed, a, c, threads=self.opt.threads, backend=self.opt.backend)

    def _worker(self, bus) -> None:
        while not self.stop.is_set():
            try:
                _, _, task = self.tasks.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                if isinstance(task, Mine):
                    self._mine_piece(task)
                else:
                    self._audit(task, bus)
            except Exception as e:  # noqa: BLE001 - reported to the main loop
                self.events.put(Failed(f"{type(task).__name__.lower()} failed: {e}"))

    def _mine_piece(self, t: Mine) -> None:
        start = time.perf_counter()
        values = [self._leaf(la, lc) for la, lc in audit.leaf_ranges(t.start, t.count, self.opt.leaves)]
        rec, tree = R.make_record(self.opt.session, self.opt.me, t.v, t.j, t.start, t.count, values)
        self.trees[(t.v, t.j)] = tree
        self.on_progress(t.count, self.scheduled_colors)
        self.events.put(Mined(rec, time.perf_counter() - start))

    def _audit(self, t: Audit, bus) -> None:
        rec = t.got.rec
        leaves, q = checks.audit_query(rec, self.opt.audit_leaves)
        replies = bus.ask("audit", rec.miner, q, timeout=max(2.0, self.opt.sync * 2))
        outcome, evidence = checks.audit_outcome(self.opt.session, rec, leaves, replies[0][1] if replies else None,
                                                 self._leaf)
        self.events.put(Audited(t.key, t.got, outcome, evidence))

    def _act(self, actions: list, bus) -> None:
        for a in actions:
            if isinstance(a, Send):
                bus.send(a.to, a.data)
            elif isinstance(a, Broadcast):
                bus.accuse(a.data)
            elif isinstance(a, Mine):
                self.scheduled_colors += a.count
                self.on_progress(0, self.scheduled_colors)
                self._seq += 1
                self.tasks.put((a.prio, self._seq, a))
            elif isinstance(a, Audit):
                self._seq += 1
                self.tasks.put((0, self._seq, a))

    # ------------------------------------------------------------------ the run
    def run(self) -> dict:
        from .transport import Bus, config

        opt = self.opt
        t_start = time.monotonic()
        auth = dictionary = None
        if opt.key:  # zenoh's own authentication: without the key, no session with us at all
            fd, dictionary = tempfile.mkstemp(prefix="exo-gay-nashprop-", suffix=".auth")
            password = R.zenoh_password(opt.key, opt.session)
            with os.fdopen(fd, "w") as f:
                f.write(f"exo-gay:{password}\n")
            auth = ("exo-gay", password, dictionary)
        try:
            bus = Bus(opt.session, opt.me, config(opt.listen, opt.connect, opt.scout, opt.interface, auth=auth))
        finally:
            if dictionary:
                os.unlink(dictionary)  # read when the session opens
        self._bus = bus
        try:
            bus.watch_members(self._on_member)
            bus.listen(self._on_message)
            bus.on_accuse(self._on_accuse)
            bus.serve("audit", self._serve_audit)
            bus.serve("view", self._serve_view)
            mac = R.member_mac(opt.key, opt.session, opt.me, self.id.public_hex) if opt.key else None
            bus.announce(self.id.public_hex, mac)
            early: list = []
            names = self._settle(bus, early)
            self._members = frozenset(names)
            self.roster.settled = True
            self.on_settled(names)
            return self._loop(bus, names, t_start, early)
        finally:
            self.stop.set()
            bus.close()

    def _loop(self, bus, names: list[str], t_start: float, early: list) -> dict:
        opt = self.opt
        plan = Plan.make(opt.seed, opt.total, names, opt.k)
        cfg = Config(opt.seed, opt.total, opt.me, opt.session, opt.k, opt.pieces)
        sm = MemberState(cfg, plan, self.roster, self.id, self._leaf)
        self.state = sm
        threading.Thread(target=self._worker, args=(bus,), daemon=True).start()
        self._act(sm.start(), bus)
        t_mine = time.monotonic()
        deadline = t_start + opt.timeout
        next_sync = time.monotonic() + opt.sync
        final_at = None
        while True:
            urgent = False
            wait = max(0.0, next_sync - time.monotonic())
            for _ in range(MAX_BATCH):
                if time.monotonic() > deadline:
                    if sm.final is not None:  # checked; a reporter that never took it is its own failure
                        return sm.result(final_at - t_mine)
                    raise RunFailed(f"no verified result within {opt.timeout:g}s (waiting for {sm.waiting_for()})")
                try:
                    ev = early.pop(0) if early else self._next(wait)
                except queue.Empty:
                    break
                wait = 0
                had = sm.final
                self._act(sm.handle(ev), bus)
                urgent |= had is None and sm.final is not None
            self._act(sm.settle_checks(), bus)
            urgent |= sm.wants_sync()
            if time.monotonic() < next_sync and not urgent:
                continue
            next_sync = time.monotonic() + opt.sync
            self._act(sm.sync(), bus)
            if sm.final is not None and final_at is None:
                final_at = time.monotonic()
                sm.freeze()
            if sm.may_leave():
                return sm.result(final_at - t_mine)
