"""The coordinator: mines a bundle on a set of miners, audits every answer, proves the result.

    report = await Coordinator(bundle, peers, auth=..., audits=5, replicas=1,
                               journal_path=...).run()

Peers are ``peers.Peer(node_id, address=None, channel=None)``: an address (the session opens
and closes the channel) or a ready grpc.aio channel (exo's GRPCPeerHandle.channel).

The parts: setup.py (everything refusable, before any work), session.py (the miners, their
channels, the start), verifier.py (our own rate, deadlines, the audits, recomputation),
schedule.py (pure policy: who mines what, acceptance), journal.py (resume), report.py (the
result).  This module is the loop that joins them.

Commit, then audit: a chunk is accepted only once its audit passed.  A miner caught lying,
or not answering its audit correctly within its deadline, is convicted: everything it
answered, earlier accepted chunks included, is mined again elsewhere.  With replicas, any
disagreement is settled by the coordinator recomputing the chunk itself: nobody is convicted
by a vote.  Every run ends: deadlines come from our own measured rate, never from what a
miner claims; the whole run has a bound set by the work (``Coordinator.bound_s``); when no
live miner can finish what is open the run ends with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from dataclasses import dataclass, fields
from typing import Any, Callable

from ..bundle import Bundle
from .client import MinerError
from .journal import Journal
from .peers import Peer
from .report import MineReport, build_report
from .schedule import ACCEPTED, COORDINATOR, DISPUTED, DUPLICATE, ChunkState, Schedule
from .session import MinerState, Session
from .setup import DEFAULT_AUDITS, MAX_CHUNKS, WAIT_PEERS_S, Setup, SetupError, check_setup
from .verifier import DEADLINE_FACTOR, DEADLINE_FLOOR_S, Lie, Verifier

__all__ = ["Coordinator", "Options", "mine_bundle", "start_local_miners", "check_setup", "Setup", "SetupError",
           "DEFAULT_AUDITS", "MAX_CHUNKS", "WAIT_PEERS_S", "DEADLINE_FLOOR_S", "DEADLINE_FACTOR"]

log = logging.getLogger(__name__)
STOP_S = 10.0  # how long cancelled workers get to finish


@dataclass(frozen=True)
class Options:
    audits: int = DEFAULT_AUDITS
    replicas: int = 1
    journal_path: str | None = None
    chunk_size: int | None = None
    chunk_deadline: float | None = None
    local_threads: int | None = None
    wait_peers_s: float = WAIT_PEERS_S
    speculate_floor_s: float = 0.25


class Coordinator:
    """``Coordinator(bundle, peers, auth=None, setup=None, on_progress=None, **options)``, the
    options being the fields of ``Options``."""

    def __init__(self, bundle: Bundle, peers: list[Peer], auth: Any = None, setup: Setup | None = None,
                 on_progress: Callable[[int], None] | None = None, **options: Any):
        unknown = set(options) - {f.name for f in fields(Options)}
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
        o = self.options = Options(**options)
        if isinstance(auth, (bytes, bytearray)):
            from .auth import HmacAuth

            auth = HmacAuth(bytes(auth), "coordinator")
        self.bundle, self.audits, self.replicas = bundle, o.audits, o.replicas
        self.setup = setup or check_setup(bundle, [p.node_id for p in peers], o.replicas, o.audits, o.chunk_size,
                                          o.journal_path)
        self.chunk_size = self.setup.chunk_size
        self.on_progress = on_progress
        self.session = Session(peers, auth, bundle.game, o.wait_peers_s)
        self.verifier = Verifier(bundle, o.audits, o.local_threads, o.chunk_deadline)
        self.sched = Schedule([(r.host, r.start, r.count) for r in bundle.ranges], self.chunk_size, o.replicas,
                              speculate_floor_s=o.speculate_floor_s)
        self.disputes = 0
        self.resumed_colors = 0
        self.problems: list[str] = []
        self.bound_s = 0.0  # the longest the mining may take, set by the work once calibrated
        self._journal: Journal | None = None
        self._samples: list[float] = []
        self._workers: dict[str, asyncio.Task] = {}
        self._pulse: asyncio.Event | None = None  # set (and replaced) whenever something changed
        self._settling = 0  # recomputations in progress: the run must not end under them

    @property
    def miners(self) -> dict[str, MinerState]:
        return self.session.miners

    # ------------------------------------------------------------------ events
    def _progress(self) -> None:
        if self.on_progress:
            self.on_progress(self.sched.accepted_colors())

    def _notify(self) -> None:
        """Wake every task waiting in _sleep.  An Event, never a Condition: a task parked in
        wait_for(Condition.wait()) may never finish its cancellation on Python 3.11 (it must
        re-acquire the lock), and the run would not end."""
        pulse, self._pulse = self._pulse, asyncio.Event()
        if pulse is not None:
            pulse.set()

    async def _sleep(self, timeout: float) -> None:
        """Until the next _notify, or ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._pulse.wait(), max(0.0, timeout))
        except asyncio.TimeoutError:
            pass

    def _convict(self, node_id: str, why: str) -> None:
        m = self.miners.get(node_id)
        if m is None or m.status == "wrong":
            return
        m.status, m.reason = "wrong", why
        log.warning("miner %s convicted: %s", node_id, why)
        if self._journal:
            self._journal.convicted(node_id, why)
        for r in self.sched.ban(node_id):
            if self._journal:
                self._journal.reopened(r.start, r.count, f"{node_id} convicted")
        self._progress()

    def _accepted(self, c: ChunkState) -> None:
        if self._journal:
            self._journal.accepted(c.start, c.count, c.accepted, c.accepted_by)
        self._progress()

    # ------------------------------------------------------------------ one chunk
    async def _mine_one(self, m: MinerState, c: ChunkState) -> Any:
        """One miner's answer for one chunk, its form checked (not yet its truth)."""
        b = self.bundle
        t0 = time.monotonic()
        ans = None
        async with contextlib.aclosing(m.client.mine(b.hash, b.seed, b.algorithm, b.game, [(c.start, c.count)],
                                                     timeout=self.verifier.deadline(c.count))) as results:
            async for first in results:
                ans = first
                break
        if ans is None:
            raise MinerError("BAD_RESULT", f"no result for [{c.start}, +{c.count})")
        self.verifier.check_form(c.start, c.count, ans)
        seconds = time.monotonic() - t0
        m.busy_s += seconds
        self._samples.append(seconds / c.count)
        if len(self._samples) >= 3:
            self.sched.seconds_per_color = statistics.median(self._samples[-64:])
        return ans

    async def _handle(self, m: MinerState, c: ChunkState) -> None:
        try:
            ans = await self._mine_one(m, c)
        except Lie as e:
            self.sched.stopped(m.node_id, c)
            self._convict(m.node_id, str(e))
            return
        try:
            await self.verifier.audit(m, c.start, c.count, ans)
        except (Lie, MinerError) as e:
            # Committed, then a wrong answer, or none within the deadline (unavailable, gone,
            # stalled, garbage): the same.  Otherwise a liar could fail exactly the audits that
            # name a faked leaf and keep every other chunk.
            if isinstance(e, MinerError):
                m.audits_failed += 1
            self.sched.stopped(m.node_id, c)
            self._convict(m.node_id, str(e) if isinstance(e, Lie) else
                          f"no valid answer to the audit of [{c.start}, +{c.count}) ({e.status}: {e.detail[:80]})")
            return
        if m.status != "ok":
            return
        m.chunks += 1
        m.colors += c.count
        outcome = self.sched.answer(m.node_id, c, ans.text)
        if outcome == ACCEPTED:
            self._accepted(c)
        elif outcome == DUPLICATE:
            m.duplicates += 1
        elif outcome == DISPUTED:
            await self._settle(c)

    async def _settle(self, c: ChunkState) -> None:
        """Disagreeing answers: the coordinator recomputes the chunk; whoever differs is wrong."""
        self.disputes += 1
        self._settling += 1
        try:
            truth = c.accepted if COORDINATOR in c.accepted_by else await self.verifier.truth(c.start, c.count)
            was = c.accepted
            wrong = self.sched.resolve(c, truth)
            if was != truth:
                if was is not None and self._journal:
                    self._journal.reopened(c.start, c.count, "disputed")
                self._accepted(c)
            for w in wrong:
                self._convict(w, f"wrong value for [{c.start}, +{c.count}) (recomputed by the coordinator)")
        finally:
            self._settling -= 1

    # ------------------------------------------------------------------ the loop
    def _next_wake(self, now: float) -> float:
        """Seconds until a chunk in flight may become late (speculation), at most 1 s."""
        waits = [min(c.inflight.values()) + self.sched.late_after(c) - now
                 for c in self.sched.chunks if c.accepted is None and c.inflight]
        return max(0.01, min([1.0, *waits]))

    async def _worker(self, m: MinerState) -> None:
        try:
            while m.status == "ok" and not self.sched.done():
                now = time.monotonic()
                c = self.sched.next_for(m.node_id, now)
                if c is None:
                    await self._sleep(self._next_wake(now))
                    continue
                self.sched.started(m.node_id, c, now)
                try:
                    await self._handle(m, c)
                except MinerError as e:
                    m.fail(f"{e.status}: {e.detail}")
                except Exception as e:  # noqa: BLE001 - whatever it was, this miner is out, the rest go on
                    log.debug("miner %s", m.node_id, exc_info=True)
                    m.fail(f"ERROR: {e.__class__.__name__}: {str(e)[:120]}")
                finally:
                    self.sched.stopped(m.node_id, c)
                    self._notify()
        finally:
            self._notify()

    def _stuck(self) -> str | None:
        """Why the open chunks can no longer be finished, or None."""
        live = self.session.live()
        if not live:
            return "no live miner left"
        short = [c for c in self.sched.chunks if c.accepted is None
                 and len(live - set(c.answers)) < self.replicas - len(c.answers)]
        if short:
            return f"--replicas {self.replicas}: only {len(live)} live miner(s) left for {len(short)} chunk(s)"
        return None

    def _bound(self) -> float:
        """The longest the mining may take, set by the work: every chunk mined and audited one
        after the other by each replica and once more, each call with gRPC's retries, plus our
        own recomputation of the whole bundle twice (disputes) at our measured rate."""
        v = self.verifier
        per_try = 5 * (v.deadline(0) + 2.0)  # RETRY_POLICY: 5 attempts, backoff at most 2 s
        calls = sum(v.deadline(c.count) + per_try for c in self.sched.chunks)
        return (self.replicas + 1) * calls + 2.0 * self.bundle.total / max(v.own_rate, 1.0)

    async def _mine_all(self) -> None:
        for m in self.miners.values():
            if m.status == "ok":
                self._workers[m.node_id] = asyncio.create_task(self._worker(m), name=f"miner {m.node_id}")
        t_end = time.monotonic() + self.bound_s
        while not (self.sched.done() and not self._settling):
            why = self._stuck()
            if why is None and time.monotonic() > t_end:
                why = f"the run passed its bound of {self.bound_s:.0f} s"
            if why and not self._settling:
                open_colors = sum(c.count for c in self.sched.chunks if c.accepted is None)
                self.problems.append(f"{why}: {open_colors} colors not mined")
                return
            await self._sleep(min(1.0, max(0.01, t_end - time.monotonic())))

    async def _stop_workers(self) -> None:
        for t in self._workers.values():
            t.cancel()  # cancels in-flight calls; the miners stop their threads
        if self._workers:
            _, late = await asyncio.wait(list(self._workers.values()), timeout=STOP_S)
            for t in late:
                log.warning("%s did not stop within %.0f s of its cancellation", t.get_name(), STOP_S)

    def _restore(self) -> None:
        for ev in self.setup.events:
            if ev.kind == "accept":
                self.sched.restore(ev.start, ev.count, ev.value, ev.by)
            elif ev.kind == "reopen":
                self.sched.reopen(ev.start, ev.count)
        for ev in self.setup.events:
            if ev.kind == "convict" and ev.node in self.miners:
                m = self.miners[ev.node]
                m.status, m.reason = "wrong", f"convicted in an earlier run: {ev.why}"
                for r in self.sched.ban(ev.node):
                    if self._journal:
                        self._journal.reopened(r.start, r.count, f"{ev.node} convicted earlier")
        self.resumed_colors = self.sched.accepted_colors()
        if self.session.live():
            self._progress()  # mining starts (a progress bar may appear now, not while waiting for peers)

    async def run(self) -> MineReport:
        t0 = time.monotonic()
        self._pulse = asyncio.Event()
        mining_s = 0.0
        try:
            await self.verifier.calibrate()
            self.bound_s = self._bound()
            await self.session.connect()
            if self.options.journal_path:
                self._journal = Journal(self.options.journal_path, self.bundle.hash, self.chunk_size)
            self._restore()
            t_mine = time.monotonic()
            await self._mine_all()
            mining_s = time.monotonic() - t_mine
        finally:
            await self._stop_workers()
            if self._journal:
                self._journal.close()
            await self.session.close()
        return build_report(self, time.monotonic() - t0, mining_s)


async def start_local_miners(hosts: list[str], auth: Any = None, threads: int | None = None,
                             backend: str = "auto") -> tuple[list[Peer], list[Any]]:
    """One in-process miner per host on 127.0.0.1 (the embedded default): (peers, servers)."""
    from ..runner import default_threads
    from .service import start_miner

    per = threads or max(1, default_threads() // len(hosts))
    peers, servers = [], []
    try:
        for h in hosts:
            server, port, _ = await start_miner(h, "127.0.0.1", 0, key=auth, threads=per, backend=backend)
            servers.append(server)
            peers.append(Peer(h, f"127.0.0.1:{port}"))
    except BaseException:
        for s in servers:
            await s.stop(None)
        raise
    return peers, servers


async def mine_bundle(bundle: Bundle, peers: list[Peer] | None = None, miner_threads: int | None = None,
                      **kw: Any) -> MineReport:
    """Mine on the given peers, or (peers=None) on one local miner per bundle host.

    Everything refusable is refused before a local miner starts; the checked setup is handed
    on, so the journal is read once.
    """
    ids = [p.node_id for p in peers] if peers is not None else bundle.hosts
    if kw.get("setup") is None:
        kw["setup"] = check_setup(bundle, ids, kw.get("replicas", 1), kw.get("audits", DEFAULT_AUDITS),
                                  kw.get("chunk_size"), kw.get("journal_path"))
    if peers is not None:
        return await Coordinator(bundle, peers, **kw).run()
    local, servers = await start_local_miners(bundle.hosts, auth=kw.get("auth"), threads=miner_threads)
    try:
        return await Coordinator(bundle, local, **kw).run()
    finally:
        for s in servers:
            await s.stop(None)
