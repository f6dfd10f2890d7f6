"""The miners of one run: their channels (opened here, or handed in), their state, and the
start: every miner's Capabilities (which also teaches the client its boot id).

Peers still starting are waited for with gRPC's own ``wait_for_ready`` up to ``wait_peers_s``
(one message names who is awaited, where); a transient UNAVAILABLE during mining is retried
by gRPC's retry policy on the channels opened here (wire.CHANNEL_OPTIONS' service config).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .client import MinerClient, MinerError, open_channel
from .peers import Peer

log = logging.getLogger(__name__)


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

    @property
    def rate(self) -> float | None:
        return self.colors / self.busy_s if self.busy_s > 0 else None

    def fail(self, reason: str) -> None:
        if self.status == "ok":
            self.status, self.reason = "failed", reason
            log.info("miner %s failed: %s", self.node_id, reason)


class Session:
    def __init__(self, peers: list[Peer], auth: Any, game: str, wait_peers_s: float):
        self.peers, self.auth, self.game, self.wait_peers_s = peers, auth, game, wait_peers_s
        self.miners: dict[str, MinerState] = {}
        self._own_channels: list[Any] = []

    def live(self) -> set[str]:
        return {n for n, m in self.miners.items() if m.status == "ok"}

    async def connect(self) -> None:
        for p in self.peers:
            ch = p.channel
            if ch is None:
                ch = open_channel(p.address)
                self._own_channels.append(ch)
            self.miners[p.node_id] = MinerState(p.node_id, MinerClient(ch, self.auth, p.node_id))
        t_end = time.monotonic() + self.wait_peers_s
        tasks = {asyncio.ensure_future(self._hello(m, t_end)): m for m in self.miners.values()}
        _, waiting = await asyncio.wait(tasks, timeout=min(0.5, self.wait_peers_s))
        if waiting:
            where = {p.node_id: p.address for p in self.peers}
            names = sorted(tasks[t].node_id for t in waiting)
            log.warning("waiting up to %.0f s for %d peer(s) to answer (start them with exo-gay serve): %s",
                        self.wait_peers_s, len(names),
                        ", ".join(f"{n} at {where[n]}" if where.get(n) else n for n in names))
            await asyncio.wait(waiting)

    async def _hello(self, m: MinerState, t_end: float) -> None:
        """Capabilities: at once, then (if it is not up yet) waiting for it until t_end."""
        try:
            r = await m.client.capabilities(timeout=10.0)
        except MinerError as first:
            left = t_end - time.monotonic()
            if first.status != "UNAVAILABLE" or left <= 0:
                m.fail(f"{first.status}: {first.detail}")
                return
            try:
                r = await m.client.capabilities(timeout=left, wait_for_ready=True)
            except MinerError as e:  # still down at the end: the first error says why
                m.fail(f"{first.status}: {first.detail}" if e.status == "DEADLINE_EXCEEDED"
                       else f"{e.status}: {e.detail}")
                return
        m.capabilities = {"cores": r.cores, "threads": r.threads, "backend": r.backend[:40],
                          "colors_per_second": r.colors_per_second, "version": r.version[:40],
                          "authenticated": r.authenticated, "auth_mode": r.auth_mode[:16]}
        if self.game != "xor" and self.game.split("(")[0] not in r.games:
            m.fail(f"does not know game {self.game}")

    async def close(self) -> None:
        for ch in self._own_channels:
            await ch.close()
