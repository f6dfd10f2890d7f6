"""Calling a miner over any grpc.aio channel (our own, or exo's GRPCPeerHandle.channel).

Every response is checked before it is believed: its MAC (bound to our request's nonce),
its bundle hash, and that it answers a chunk we asked for.  Failures raise MinerError with
a gRPC-like status name, which the coordinator records against the miner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator

import grpc

from . import mesh_pb2 as pb
from .auth import AuthError, Verifier, sign
from .wire import CAPABILITIES, CHANNEL_OPTIONS, COLOR_AT, METHODS, MINE


class MinerError(Exception):
    def __init__(self, status: str, detail: str):
        self.status, self.detail = status, detail
        super().__init__(f"{status}: {detail}")


@dataclass(frozen=True)
class ChunkAnswer:
    start: int
    count: int
    text: str  # the value as canonical JSON text
    seconds: float
    node_id: str


def _rpc_error(e: grpc.aio.AioRpcError) -> MinerError:
    return MinerError(e.code().name, e.details() or "")


def open_channel(address: str) -> Any:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


class MinerClient:
    def __init__(self, channel: Any, key: bytes | None = None):
        self.key = key or None
        # Responses are bound to our fresh request nonce, so no replay cache is needed here.
        self.verifier = Verifier(key) if key else None
        mk = lambda path, name, kind: getattr(channel, kind)(  # noqa: E731
            path, request_serializer=METHODS[name][0].SerializeToString,
            response_deserializer=METHODS[name][1].FromString)
        self._mine = mk(MINE, "Mine", "unary_stream")
        self._color_at = mk(COLOR_AT, "ColorAt", "unary_unary")
        self._caps = mk(CAPABILITIES, "Capabilities", "unary_unary")

    def _check(self, method: str, reply: Any, request_nonce: bytes) -> None:
        if self.verifier is None:
            return
        try:
            self.verifier.verify(method, reply, request_nonce, remember=False)
        except AuthError as e:
            raise MinerError("UNAUTHENTICATED", f"reply refused: {e}") from None

    async def mine(self, bundle_hash: str, seed: int, algorithm: str, game: str,
                   chunks: list[tuple[int, int]], timeout: float) -> AsyncIterator[ChunkAnswer]:
        req = pb.MineRequest(bundle_hash=bundle_hash, seed=seed, algorithm=algorithm, game=game,
                             chunks=[pb.Chunk(start=s, count=c) for s, c in chunks])
        sign(self.key, "Mine", req)
        wanted = set(chunks)
        call = self._mine(req, timeout=timeout)
        try:
            async for res in call:
                self._check("Mine.result", res, req.auth.nonce)
                if res.bundle_hash != bundle_hash:
                    raise MinerError("BAD_RESULT", f"result for bundle {res.bundle_hash[:12]}, not {bundle_hash[:12]}")
                if (res.start, res.count) not in wanted:
                    raise MinerError("BAD_RESULT", f"result for a chunk not asked: [{res.start}, +{res.count})")
                wanted.discard((res.start, res.count))
                yield ChunkAnswer(res.start, res.count, res.value, res.seconds, res.node_id)
        except grpc.aio.AioRpcError as e:
            raise _rpc_error(e) from None
        finally:
            call.cancel()

    async def _unary(self, stub: Any, method: str, req: Any, timeout: float) -> Any:
        """Sign, call, and check the reply's MAC against this request's nonce."""
        sign(self.key, method, req)
        try:
            reply = await stub(req, timeout=timeout)
        except grpc.aio.AioRpcError as e:
            raise _rpc_error(e) from None
        self._check(f"{method}.reply", reply, req.auth.nonce)
        return reply

    async def color_at(self, seed: int, index: int, timeout: float = 5.0) -> int:
        req = pb.ColorAtRequest(seed=seed, index=index, algorithm="canonical")
        return (await self._unary(self._color_at, "ColorAt", req, timeout)).color

    async def capabilities(self, timeout: float = 10.0) -> pb.CapabilitiesReply:
        return await self._unary(self._caps, "Capabilities", pb.CapabilitiesRequest(), timeout)
