"""Calling one miner over any grpc.aio channel (our own, or exo's GRPCPeerHandle.channel).

Every request is bound to the miner's node id and boot id (learnt from Capabilities), and
every answer is checked before it is believed: its MAC or signature (bound to our request's
nonce), that it comes from the node we called, its bundle hash, and that it answers what we
asked.  Failures raise MinerError with a gRPC-like status name, which the coordinator records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator

import grpc

from . import mesh_pb2 as pb
from .auth import AuthError, HmacAuth, check_reply, sign
from .wire import AUDIT, CAPABILITIES, CHANNEL_OPTIONS, COLOR_AT, METHODS, MINE


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
    root: bytes = b""
    n_leaves: int = 0
    leaf_values: tuple[str, ...] = ()  # games: every leaf's value text


@dataclass(frozen=True)
class LeafAnswer:
    index: int
    value: int
    path: list[tuple[bytes, int]]


def _rpc_error(e: grpc.aio.AioRpcError) -> MinerError:
    return MinerError(e.code().name, (e.details() or "")[:200])


def open_channel(address: str) -> Any:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


class MinerClient:
    def __init__(self, channel: Any, auth: Any = None, node_id: str = ""):
        self.auth = HmacAuth(auth) if isinstance(auth, (bytes, bytearray)) else auth
        self.node_id = node_id  # "" = whoever answers (tests, single-miner tools)
        self.boot_id = b""
        mk = lambda path, name, kind: getattr(channel, kind)(  # noqa: E731
            path, request_serializer=METHODS[name][0].SerializeToString,
            response_deserializer=METHODS[name][1].FromString)
        self._mine = mk(MINE, "Mine", "unary_stream")
        self._audit = mk(AUDIT, "Audit", "unary_unary")
        self._color_at = mk(COLOR_AT, "ColorAt", "unary_unary")
        self._caps = mk(CAPABILITIES, "Capabilities", "unary_unary")

    def _sign(self, method: str, req: Any) -> Any:
        return sign(self.auth, method, req, self.node_id, self.boot_id)

    def _check(self, method: str, reply: Any, request_nonce: bytes) -> None:
        if self.node_id and reply.node_id != self.node_id:
            raise MinerError("WRONG_NODE",
                             f"answered as {reply.node_id[:40]!r}, the cluster file names {self.node_id!r}")
        try:
            check_reply(self.auth, method, reply, self.node_id or reply.node_id, request_nonce)
        except AuthError as e:
            raise MinerError("UNAUTHENTICATED", f"reply refused: {e}") from None

    async def mine(self, bundle_hash: str, seed: int, algorithm: str, game: str,
                   chunks: list[tuple[int, int]], timeout: float) -> AsyncIterator[ChunkAnswer]:
        req = self._sign("Mine", pb.MineRequest(bundle_hash=bundle_hash, seed=seed, algorithm=algorithm, game=game,
                                                chunks=[pb.Chunk(start=s, count=c) for s, c in chunks]))
        wanted = set(chunks)
        call = self._mine(req, timeout=timeout)
        try:
            async for res in call:
                self._check("Mine.result", res, req.auth.nonce)
                if res.bundle_hash != bundle_hash:
                    raise MinerError("BAD_RESULT",
                                     f"result for bundle {res.bundle_hash[:12]!r}, not {bundle_hash[:12]}")
                if (res.start, res.count) not in wanted:
                    raise MinerError("BAD_RESULT", f"result for a chunk not asked: [{res.start}, +{res.count})")
                wanted.discard((res.start, res.count))
                yield ChunkAnswer(res.start, res.count, res.value, res.seconds, res.node_id, res.root, res.n_leaves,
                                  tuple(res.leaf_values))
        except grpc.aio.AioRpcError as e:
            raise _rpc_error(e) from None
        finally:
            call.cancel()

    async def audit(self, bundle_hash: str, seed: int, algorithm: str, game: str, start: int, count: int,
                    root: bytes, leaves: list[int], timeout: float) -> list[LeafAnswer]:
        """The chosen leaves' values and paths, in the order asked (checked by the caller)."""
        req = pb.AuditRequest(bundle_hash=bundle_hash, seed=seed, algorithm=algorithm, game=game,
                              chunk=pb.Chunk(start=start, count=count), root=root, leaves=leaves)
        reply = await self._unary(self._audit, "Audit", req, timeout)
        if (reply.bundle_hash, reply.start, reply.count) != (bundle_hash, start, count):
            raise MinerError("BAD_RESULT", "audit answer for another chunk or bundle")
        if [p.index for p in reply.leaves] != list(leaves):
            raise MinerError("BAD_RESULT", "audit answer for other leaves than asked")
        return [LeafAnswer(p.index, p.value, [(s.digest, s.xor) for s in p.path]) for p in reply.leaves]

    async def _unary(self, stub: Any, method: str, req: Any, timeout: float,
                     wait_for_ready: bool | None = None) -> Any:
        """Sign, call, and check the reply against this request's nonce."""
        self._sign(method, req)
        try:
            reply = await stub(req, timeout=timeout, wait_for_ready=wait_for_ready)
        except grpc.aio.AioRpcError as e:
            raise _rpc_error(e) from None
        self._check(f"{method}.reply", reply, req.auth.nonce)
        return reply

    async def color_at(self, seed: int, index: int, timeout: float = 5.0) -> int:
        req = pb.ColorAtRequest(seed=seed, index=index, algorithm="canonical")
        return (await self._unary(self._color_at, "ColorAt", req, timeout)).color

    async def capabilities(self, timeout: float = 10.0, wait_for_ready: bool | None = None) -> pb.CapabilitiesReply:
        """Also learns the miner's boot id, which every later request names.  ``wait_for_ready``:
        wait (up to the timeout) for a miner that is not listening yet instead of failing."""
        self.boot_id = b""
        reply = await self._unary(self._caps, "Capabilities", pb.CapabilitiesRequest(), timeout, wait_for_ready)
        self.boot_id = reply.boot_id
        return reply
