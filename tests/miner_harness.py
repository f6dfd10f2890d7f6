"""A real miner on 127.0.0.1 for one test: start it, hand over a channel, stop it."""

from __future__ import annotations

import asyncio

from exo_gay.mesh.client import open_channel
from exo_gay.mesh.service import start_miner


def run(coro):
    return asyncio.run(coro)


async def with_miner(fn, node_id: str = "m1", **kw):
    """await fn(channel, servicer) against a fresh one-thread miner; always stops it."""
    server, port, servicer = await start_miner(node_id, threads=1, **kw)
    ch = open_channel(f"127.0.0.1:{port}")
    try:
        return await fn(ch, servicer)
    finally:
        await ch.close()
        await server.stop(None)
