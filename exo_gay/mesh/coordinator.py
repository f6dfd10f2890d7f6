"""The coordinator: mines a bundle on a set of miners, audits every answer, proves the result.

    report = await Coordinator(bundle, peers, auth=..., audits=5, replicas=1,
                               journal_path=...).run()

Peers are ``cluster.Peer(node_id, address=None, channel=None)``: an address (the coordinator
opens and closes the channel) or a ready grpc.aio channel (exo's GRPCPeerHandle.channel).

Commit, then audit: a miner answers a chunk with its value and the Merkle XOR root over its
leaves (audit.py).  Only then does the coordinator draw ``audits`` leaves (fresh randomness
from ``secrets``), fetch their values and paths, recompute those leaves itself and check the
paths.  A chunk is accepted only once audited: the answer of a miner that fails or stalls
before its audit is discarded, and a miner caught lying loses everything it answered, earlier
accepted chunks included; all of it is mined again elsewhere.  With replicas, any disagreement
is settled by the coordinator recomputing the chunk itself: nobody is convicted by a vote.

Every run ends: deadlines come from the coordinator's own measured rate, never from what a
miner claims; a transient UNAVAILABLE is retried with backoff, then the miner is out; when no
live miner can finish what is open the run ends with the reason.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import audit
from ..bundle import Bundle
from ..errors import InputError
from ..fingerprint import Fingerprint, combine_all, normalize
from ..registry import get_reduction
from .client import MinerClient, MinerError, open_channel
from .journal import Journal, JournalError, read_journal
from .peers import Peer
from .report import Guarantee, HostRow, MineReport, MinerRow, guarantee_text
from .schedule import ACCEPTED, COORDINATOR, DISPUTED, DUPLICATE, ChunkState, Schedule, default_chunk_size, split_range
from .wire import audit_context, value_from_text, value_to_text

log = logging.getLogger(__name__)

DEFAULT_AUDITS = 5  # leaves per chunk: 5 of 256 is 1.95% of the work, recomputed here
MAX_CHUNKS = 100_000  # the schedule scans its chunks per dispatch
RETRIES = 4  # a transient UNAVAILABLE is retried this often, backing off 0.25 s, 0.5 s, 1 s, 2 s
BACKOFF_S = 0.25
WAIT_PEERS_S = 30.0  # how long `mine` waits for peers that are still starting
DEADLINE_FLOOR_S = 10.0
DEADLINE_FACTOR = 20.0  # a chunk may take this many times what it takes one core here
TRANSIENT = ("UNAVAILABLE",)


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
    events: list = []
    if journal_path:
        try:
            events = read_journal(journal_path, bundle.hash, chunk, set(peer_ids))
        except JournalError as e:
            raise SetupError(str(e)) from None
        chunks = {(s, c) for r in bundle.ranges for s, c in split_range(r.start, r.count, chunk)}
        reduction = get_reduction(bundle.game)
        for ev in events:
            if ev.kind in ("accept", "reopen") and (ev.start, ev.count) not in chunks:
                raise SetupError(f"journal {journal_path}: [{ev.start}, +{ev.count}) is not a chunk of this bundle")
            if ev.kind == "accept":
                try:
                    value_from_text(reduction, ev.value)
                except ValueError as e:
                    raise SetupError(f"journal {journal_path}: a malformed value ({str(e)[:60]})") from None
    return Setup(chunk, events)


@dataclass
class MinerState:
    node_id: str
    client: MinerClient
    status: str = "ok"  # ok | failed | wrong
    reason: str = ""
    capabilities: dict = field(default_factory=dict)
    chunks: int = 0
    colors: int = 0
    busy_s: float = 0.0
    duplicates: int = 0
    audits_passed: int = 0
    audits_failed: int = 0
    retries: int = 0

    @property
    def rate(self) -> float | None:
        return self.colors / self.busy_s if self.busy_s > 0 else None


class Lie(Exception):
    """An answer shown wrong by the coordinator's own computation."""


class Coordinator:
    def __init__(self, bundle: Bundle, peers: list[Peer], auth: Any = None, audits: int = DEFAULT_AUDITS,
                 replicas: int = 1, journal_path: str | None = None, chunk_size: int | None = None,
                 chunk_deadline: float | None = None, on_progress: Callable[[int], None] | None = None,
                 local_threads: int | None = None, setup: Setup | None = None,
                 wait_peers_s: float = WAIT_PEERS_S, speculate_floor_s: float = 0.25, key: Any = None):
        self.bundle, self.peers = bundle, peers
        self.auth = auth if auth is not None else key
        if isinstance(self.auth, (bytes, bytearray)):
            from .auth import HmacAuth

            self.auth = HmacAuth(bytes(self.auth), "coordinator")
        self.audits, self.replicas = audits, replicas
        self.setup = setup or check_setup(bundle, [p.node_id for p in peers], replicas, audits, chunk_size,
                                          journal_path)
        self.chunk_size = self.setup.chunk_size
        self.journal_path = journal_path
        self.chunk_deadline = chunk_deadline
        self.on_progress = on_progress
        self.local_threads = local_threads
        self.wait_peers_s = wait_peers_s
        self.reduction = get_reduction(bundle.game)
        self.context = audit_context(bundle.hash, bundle.seed, bundle.algorithm, bundle.game)
        self.sched = Schedule([(r.host, r.start, r.count) for r in bundle.ranges], self.chunk_size, replicas,
                              speculate_floor_s=speculate_floor_s)
        self.miners: dict[str, MinerState] = {}
        self.disputes = 0
        self.resumed_colors = 0
        self.audits_made = 0
        self.audit_colors = 0
        self.problems: list[str] = []
        self.own_rate: float = 0.0  # colors/s of one core here: the base of every deadline
        self._journal: Journal | None = None
        self._samples: list[float] = []
        self._own_channels: list[Any] = []
        self._workers: dict[str, asyncio.Task] = {}
        self._pulse: asyncio.Event | None = None  # set (and replaced) whenever something changed
        self.bound_s = 0.0  # the longest this run may take, set by the work once calibrated
        self._settling = 0  # recomputations in progress: the run must not end under them

    # ------------------------------------------------------------------ helpers
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
        pulse = self._pulse
        try:
            await asyncio.wait_for(pulse.wait(), max(0.0, timeout))
        except asyncio.TimeoutError:
            pass

    def deadline(self, count: int) -> float:
        """Seconds a miner gets for `count` colors: from our own rate, never from the miner's word."""
        if self.chunk_deadline:
            return self.chunk_deadline
        return DEADLINE_FLOOR_S + DEADLINE_FACTOR * count / max(self.own_rate, 1.0)

    def _fail(self, m: MinerState, reason: str) -> None:
        if m.status == "ok":
            m.status, m.reason = "failed", reason
            log.info("miner %s failed: %s", m.node_id, reason)

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

    async def _local(self, start: int, count: int) -> Any:
        from ..runner import reduce_range

        return await asyncio.get_running_loop().run_in_executor(None, lambda: reduce_range(
            self.bundle.seed, start, count, self.bundle.algorithm, reduction=self.reduction,
            threads=self.local_threads))

    async def _calibrate(self) -> None:
        from ..runner import reduce_range

        def measure() -> float:
            n = 1 << 20
            reduce_range(self.bundle.seed, 0, 1 << 12, self.bundle.algorithm, reduction=self.reduction, threads=1)
            t0 = time.perf_counter()
            reduce_range(self.bundle.seed, 0, n, self.bundle.algorithm, reduction=self.reduction, threads=1)
            return n / max(time.perf_counter() - t0, 1e-9)

        self.own_rate = await asyncio.get_running_loop().run_in_executor(None, measure)

    async def _retrying(self, m: MinerState, call: Callable[[], Any]) -> Any:
        """await call(), retrying a transient UNAVAILABLE with backoff; MinerError otherwise."""
        for attempt in range(RETRIES + 1):
            try:
                return await call()
            except MinerError as e:
                if e.status not in TRANSIENT or attempt == RETRIES:
                    raise
                m.retries += 1
                await asyncio.sleep(BACKOFF_S * (1 << attempt))

    # ------------------------------------------------------------------ one chunk
    async def _mine_one(self, m: MinerState, c: ChunkState) -> Any:
        """One miner's answer for one chunk, its form checked (not yet its truth)."""
        async def call() -> Any:
            async for ans in m.client.mine(self.bundle.hash, self.bundle.seed, self.bundle.algorithm,
                                           self.bundle.game, [(c.start, c.count)], timeout=self.deadline(c.count)):
                return ans
            raise MinerError("BAD_RESULT", f"no result for [{c.start}, +{c.count})")

        t0 = time.monotonic()
        ans = await self._retrying(m, call)
        try:
            value_from_text(self.reduction, ans.text)
        except ValueError as e:
            raise MinerError("BAD_RESULT", f"malformed value: {str(e)[:80]}") from None
        n = len(audit.leaf_ranges(c.start, c.count))
        if self.reduction.name == "xor":
            if len(ans.root) != 32 or ans.n_leaves != n:
                raise MinerError("BAD_RESULT", "no valid commitment (root, n_leaves) with the value")
        else:
            if len(ans.leaf_values) != n:
                raise MinerError("BAD_RESULT", f"{len(ans.leaf_values)} leaf values for {n} leaves")
            try:
                leaves = [value_from_text(self.reduction, t) for t in ans.leaf_values]
            except ValueError as e:
                raise MinerError("BAD_RESULT", f"malformed leaf value: {str(e)[:80]}") from None
            total = functools.reduce(self.reduction.combine, leaves, self.reduction.identity)
            if value_to_text(self.reduction, total) != ans.text:
                raise Lie(f"[{c.start}, +{c.count}): the value is not what its own leaves combine to")
        seconds = time.monotonic() - t0
        m.busy_s += seconds
        self._samples.append(seconds / c.count)
        if len(self._samples) >= 3:
            self.sched.seconds_per_color = statistics.median(self._samples[-64:])
        return ans

    async def _audit(self, m: MinerState, c: ChunkState, ans: Any) -> None:
        """Raises Lie if the coordinator's own computation contradicts the answer, MinerError if
        the miner does not answer its audit."""
        if self.audits == 0:
            return
        if self.reduction.name != "xor":
            await self._audit_game(m, c, ans)
            return
        value = value_from_text(self.reduction, ans.text)
        root, n_leaves = ans.root, ans.n_leaves
        leaves = audit.choose_leaves(secrets.token_bytes(32), root, n_leaves, self.audits)
        # one call, not retried: a miner that has just committed answers its audit within one
        # deadline or is convicted (a retry would only let it pick which audits to answer later)
        proofs = await m.client.audit(self.bundle.hash, self.bundle.seed, self.bundle.algorithm, self.bundle.game,
                                      c.start, c.count, root, leaves, timeout=self.deadline(0))
        ranges = audit.leaf_ranges(c.start, c.count, n_leaves)
        for p in proofs:
            if not audit.verify_path(self.context, c.start, c.count, n_leaves, root, value, p.index, p.value, p.path):
                m.audits_failed += 1
                raise Lie(f"leaf {p.index} of [{c.start}, +{c.count}) does not open its commitment")
        for p in proofs:
            a, n = ranges[p.index]
            truth = await self._local(a, n)
            self.audits_made += 1
            self.audit_colors += n
            if truth != p.value:
                m.audits_failed += 1
                raise Lie(f"leaf {p.index} of [{c.start}, +{c.count}) recomputed by the coordinator differs")
            m.audits_passed += 1

    async def _audit_game(self, m: MinerState, c: ChunkState, ans: Any) -> None:
        """A game's answer holds every leaf's value (the commitment; the coordinator combined
        them itself): recompute some of them."""
        digest = hashlib.sha256("\0".join(ans.leaf_values).encode()).digest()
        ranges = audit.leaf_ranges(c.start, c.count)
        for k in audit.choose_leaves(secrets.token_bytes(32), digest, len(ranges), self.audits):
            a, n = ranges[k]
            truth = value_to_text(self.reduction, await self._local(a, n))
            self.audits_made += 1
            self.audit_colors += n
            if truth != ans.leaf_values[k]:
                m.audits_failed += 1
                raise Lie(f"leaf {k} of [{c.start}, +{c.count}) recomputed by the coordinator differs")
            m.audits_passed += 1

    async def _settle(self, m: MinerState, c: ChunkState) -> None:
        """Disagreeing answers: the coordinator recomputes the chunk; whoever differs is wrong."""
        self.disputes += 1
        self._settling += 1
        try:
            if COORDINATOR in c.accepted_by:
                truth = c.accepted
            else:
                truth = value_to_text(self.reduction, await self._local(c.start, c.count))
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

    async def _handle(self, m: MinerState, c: ChunkState) -> None:
        try:
            ans = await self._mine_one(m, c)
        except Lie as e:
            self.sched.stopped(m.node_id, c)
            self._convict(m.node_id, str(e))
            return
        try:
            await self._audit(m, c, ans)
        except Lie as e:
            self.sched.stopped(m.node_id, c)
            self._convict(m.node_id, str(e))
            return
        except MinerError as e:
            # Committed, then no correct answer to the audit within its deadline (unavailable,
            # gone, stalled, garbage): the same as a wrong answer.  Otherwise a liar could fail
            # exactly the audits that name a faked leaf and keep every other chunk.
            m.audits_failed += 1
            self.sched.stopped(m.node_id, c)
            self._convict(m.node_id, f"no valid answer to the audit of [{c.start}, +{c.count}) "
                                     f"({e.status}: {e.detail[:80]})")
            return
        if m.status != "ok":
            return
        text = ans.text
        m.chunks += 1
        m.colors += c.count
        outcome = self.sched.answer(m.node_id, c, text)
        if outcome == ACCEPTED:
            self._accepted(c)
        elif outcome == DUPLICATE:
            m.duplicates += 1
        elif outcome == DISPUTED:
            await self._settle(m, c)

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
                    self._fail(m, f"{e.status}: {e.detail}")
                except Exception as e:  # noqa: BLE001 - whatever it was, this miner is out, the rest go on
                    log.debug("miner %s", m.node_id, exc_info=True)
                    self._fail(m, f"ERROR: {e.__class__.__name__}: {str(e)[:120]}")
                finally:
                    self.sched.stopped(m.node_id, c)
                    self._notify()
        finally:
            self._notify()

    def _stuck(self) -> str | None:
        """Why the open chunks can no longer be finished, or None."""
        live = {n for n, m in self.miners.items() if m.status == "ok"}
        if not live:
            return "no live miner left"
        short = [c for c in self.sched.chunks if c.accepted is None
                 and len(live - set(c.answers)) < self.replicas - len(c.answers)]
        if short:
            return (f"--replicas {self.replicas}: only {len(live)} live miner(s) left for "
                    f"{len(short)} chunk(s)")
        return None

    async def _mine_all(self) -> None:
        for m in self.miners.values():
            if m.status == "ok":
                self._workers[m.node_id] = asyncio.create_task(self._worker(m))
        t_end = time.monotonic() + self.bound_s
        while not (self.sched.done() and not self._settling):
            why = self._stuck()
            if why is None and time.monotonic() > t_end:
                why = f"the run passed its bound of {self.bound_s:.0f} s"
            if why and not self._settling:
                self.problems.append(f"{why}: {self._open_colors()} colors not mined")
                return
            await self._sleep(min(1.0, max(0.01, t_end - time.monotonic())))

    def _open_colors(self) -> int:
        return sum(c.count for c in self.sched.chunks if c.accepted is None)

    def _bound(self) -> float:
        """The longest the mining may take, set by the work: every chunk mined and audited one
        after the other by each replica, each call with its retries, plus the coordinator's
        own recomputation of every chunk (disputes) at its measured rate."""
        per_try = (RETRIES + 1) * (self.deadline(0) + 2 * BACKOFF_S * (1 << RETRIES))
        calls = sum(self.deadline(c.count) + per_try for c in self.sched.chunks)
        return (self.replicas + 1) * calls + 2.0 * self.bundle.total / max(self.own_rate, 1.0)

    async def _stop_workers(self) -> None:
        for t in self._workers.values():
            t.cancel()  # cancels in-flight calls; the miners stop their threads
        if self._workers:
            _, late = await asyncio.wait(list(self._workers.values()), timeout=10.0)
            for t in late:
                log.warning("a worker did not stop within 10 s of its cancellation: %s", t.get_name())

    async def _connect(self) -> None:
        for p in self.peers:
            ch = p.channel
            if ch is None:
                ch = open_channel(p.address)
                self._own_channels.append(ch)
            self.miners[p.node_id] = MinerState(p.node_id, MinerClient(ch, self.auth, p.node_id))
        t_end = time.monotonic() + self.wait_peers_s
        waiting: set[str] = set()
        told = [False]

        async def caps(m: MinerState) -> None:
            delay = BACKOFF_S
            while True:
                try:
                    r = await m.client.capabilities(timeout=max(1.0, min(10.0, t_end - time.monotonic())))
                    waiting.discard(m.node_id)
                    break
                except MinerError as e:
                    if e.status not in TRANSIENT or time.monotonic() + delay > t_end:
                        waiting.discard(m.node_id)
                        self._fail(m, f"{e.status}: {e.detail}")
                        return
                    waiting.add(m.node_id)
                    await asyncio.sleep(delay)  # the others have had their first try meanwhile
                    if not told[0] and waiting:
                        told[0] = True
                        where = {p.node_id: p.address for p in self.peers}
                        log.warning("waiting up to %.0f s for %d peer(s) to answer (start them with exo-gay "
                                    "serve): %s", self.wait_peers_s, len(waiting),
                                    ", ".join(f"{n} at {where[n]}" if where.get(n) else n for n in sorted(waiting)))
                    delay = min(2.0, delay * 2)
            m.capabilities = {"cores": r.cores, "threads": r.threads, "backend": r.backend[:40],
                              "colors_per_second": r.colors_per_second, "version": r.version[:40],
                              "authenticated": r.authenticated, "auth_mode": r.auth_mode[:16]}
            if self.bundle.game != "xor" and self.bundle.game.split("(")[0] not in r.games:
                self._fail(m, f"does not know game {self.bundle.game}")

        await asyncio.gather(*(caps(m) for m in self.miners.values()))

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
        if any(m.status == "ok" for m in self.miners.values()):
            self._progress()  # mining starts (a progress bar may appear now, not while waiting for peers)

    async def run(self) -> MineReport:
        t0 = time.monotonic()
        self._pulse = asyncio.Event()
        mining_s = 0.0
        try:
            await self._calibrate()
            self.bound_s = self._bound()
            await self._connect()
            if self.journal_path:
                self._journal = Journal(self.journal_path, self.bundle.hash, self.chunk_size)
            self._restore()
            t_mine = time.monotonic()
            await self._mine_all()
            mining_s = time.monotonic() - t_mine
        finally:
            await self._stop_workers()
            if self._journal:
                self._journal.close()
            for ch in self._own_channels:
                await ch.close()
        return self._report(time.monotonic() - t0, mining_s)

    # ------------------------------------------------------------------ the result
    def _report(self, wall_s: float, mining_s: float) -> MineReport:
        b, red = self.bundle, self.reduction
        problems = list(self.problems)
        records = {c.idx: Fingerprint.of_range(b.seed, b.algorithm, c.start, c.count,
                                               value_from_text(red, c.accepted), b.game)
                   for c in self.sched.chunks if c.accepted is not None}
        combined = combine_all(records.values()) if records else None  # refuses any overlap
        want = normalize((r.start, r.count) for r in b.ranges)
        open_chunks = [c for c in self.sched.chunks if c.accepted is None]
        if open_chunks and not problems:
            problems.append(f"{len(open_chunks)} chunk(s) not mined: {sum(c.count for c in open_chunks)} colors")
        elif not open_chunks and (combined is None or combined.ranges != want):
            problems.append("the combined record does not cover exactly the bundle's ranges")
        matches = None
        if b.expected_xor is not None and combined is not None and not open_chunks:
            matches = combined.value == b.expected_xor
            if not matches:
                problems.append(f"combined xor {combined.to_json()['xor']} != expected_xor {b.expected_xor:#018x}")
        hosts = []
        for r in b.ranges:
            mine = [c for c in self.sched.chunks if c.host == r.host]
            done = [c for c in mine if c.accepted is not None]
            fp = combine_all(records[c.idx] for c in done) if len(done) == len(mine) else None
            m = self.miners.get(r.host)
            hosts.append(HostRow(r.host, r.start, r.count, r.polarity,
                                 round(m.rate) if m and m.rate else None,
                                 fp.to_json()["xor" if b.game == "xor" else "value"] if fp else None,
                                 sum(c.count for c in done if r.host not in c.accepted_by),
                                 m.status if m else "absent", m.reason if m else ""))
        address = {p.node_id: p.address for p in self.peers}
        miners = [MinerRow(m.node_id, m.status, m.reason, m.chunks, m.colors, round(m.rate) if m.rate else None,
                           m.duplicates, m.audits_passed, m.audits_failed, m.retries, m.capabilities,
                           address.get(m.node_id))
                  for m in self.miners.values()]
        mined_now = self.sched.accepted_colors() - self.resumed_colors
        mined = sum(m.colors for m in self.miners.values())
        leaves = audit.LEAVES
        guarantee = Guarantee(leaves, self.audits, self.audits_made, self.audit_colors,
                              round(self.audit_colors / mined, 6) if mined else 0.0,
                              guarantee_text(self.audits_made, self.audits, leaves,
                                             sum(m.chunks for m in self.miners.values())))
        return MineReport(
            bundle_hash=b.hash, seed=b.seed, algorithm=b.algorithm, game=b.game, total=b.total,
            chunk_size=self.chunk_size, replicas=self.replicas, audits=self.audits,
            combined=combined.to_json() if combined else None, expected_matches=matches,
            verified=not problems and not open_chunks, problems=problems, hosts=hosts, miners=miners,
            wrong_miners=[m.node_id for m in self.miners.values() if m.status == "wrong"],
            failed_miners=[m.node_id for m in self.miners.values() if m.status == "failed"],
            duplicates_ignored=sum(m.duplicates for m in self.miners.values()), disputes=self.disputes,
            resumed_colors=self.resumed_colors, seconds=round(wall_s, 6), mining_seconds=round(mining_s, 6),
            colors_per_second=round(mined_now / mining_s) if mining_s > 0 else None, guarantee=guarantee)


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
    auth = kw.get("auth")
    if kw.get("setup") is None:
        kw["setup"] = check_setup(bundle, ids, kw.get("replicas", 1), kw.get("audits", DEFAULT_AUDITS),
                                  kw.get("chunk_size"), kw.get("journal_path"))
    if peers is not None:
        return await Coordinator(bundle, peers, **kw).run()
    local, servers = await start_local_miners(bundle.hosts, auth=auth, threads=miner_threads)
    try:
        return await Coordinator(bundle, local, **kw).run()
    finally:
        for s in servers:
            await s.stop(None)
