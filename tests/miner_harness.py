"""Test miners: a real honest miner in-process, and adversarial miners built from mesh.proto.

The adversary (``python tests/miner_harness.py --node-id X --behaviour B``) speaks the wire
format only: mesh_pb2 messages, the commitment format of docs/proof.md (its own reading of it,
tests/merkle_reference.py), and the reference colors of exo_gay/spi.py; it shares no code with
exo_gay/mesh/service.py or exo_gay/audit.py.  Behaviours:

  honest[:S]        correct answers (after S seconds per chunk)
  lie-leaves:F      fakes a fraction F of each chunk's leaves, commitment consistent
  lie-chunks:N      fakes every leaf of its first N chunks, then honest
  lie-then-stall:N  fakes every leaf of its first N chunks, then never answers again
  lie-then-exit:N   fakes its first N chunks, then exits (kill -9 style)
  lie-own:A:B       fakes every chunk inside [A, B) (its own host's range), honest elsewhere
  no-audit          fakes every chunk and never answers an audit
  dodge:K[:MODE]    fakes leaves 0..K-1 of every chunk, answers every audit that names none of
                    them, and dodges one that does: MODE unavailable (default; UNAVAILABLE),
                    exit (os._exit), stall (never answers), garbage (paths of random bytes)
  forge-label:L[:I] honest leaves; the XOR label of node I (default 0; * = every node) at level L
                    (1 = just above the leaves) replaced, the digests above it over the forged label: a root
                    consistent with the lie (the attack on the unbound labels of issue 24)
  bad-path          answers Mine honestly, audits with a forged path
  stall             claims a tiny colors/s, never answers Mine
  malformed:KIND    KIND = deep (200k-deep JSON value), huge (a 900 KB value), int (5000 digits),
                    root (a 3-byte root)
  foreign           answers for another bundle
  wrong-node        reports another node id
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys

import grpc
import merkle_reference as ref

from exo_gay import spi
from exo_gay.mesh import mesh_pb2 as pb
from exo_gay.mesh.client import open_channel
from exo_gay.mesh.service import start_miner

SERVICE = "exo_gay.mesh.Miner"


def run(coro):
    return asyncio.run(coro)


async def with_miner(fn, node_id: str = "m1", **kw):
    """await fn(channel, servicer) against a fresh one-thread miner; always stops it."""
    server, port, servicer = await start_miner(node_id, threads=1, **kw)
    servicer.port = port
    ch = open_channel(f"127.0.0.1:{port}")
    try:
        return await fn(ch, servicer)
    finally:
        await ch.close()
        await server.stop(None)


def fake(leaf_start: int) -> int:
    """A lie that depends on the leaf: a constant one could cancel out."""
    return spi.mix(leaf_start) | 1


class Tree:
    """A commitment as the adversary keeps it: merkle_reference's levels."""

    def __init__(self, start: int, count: int, lvls):
        self.start, self.count, self.levels = start, count, lvls
        self.root, self.value = lvls[-1][0]
        self.n_leaves = len(lvls[0])

    def leaf_value(self, k: int) -> int:
        return self.levels[0][k][1]

    def path(self, k: int) -> list[tuple[bytes, int]]:
        return ref.path(self.levels, k)


class Adversary:
    def __init__(self, node_id: str, behaviour: str):
        self.node_id = node_id
        self.kind, _, arg = behaviour.partition(":")
        self.arg = arg
        self.mined = 0
        self.audits = 0  # Audit calls received
        self.dodged = 0
        self.trees: dict[tuple, Tree] = {}

    def _lies_on_leaf(self, chunk_no: int, start: int, leaf_start: int) -> bool:
        k = self.kind
        if k == "lie-leaves":
            h = int.from_bytes(hashlib.sha256(leaf_start.to_bytes(16, "big")).digest()[:8], "big")
            return h < float(self.arg) * (1 << 64)
        if k in ("lie-chunks", "lie-then-stall", "lie-then-exit"):
            return chunk_no < int(self.arg)
        if k == "lie-own":
            a, b = (int(x) for x in self.arg.split(":"))
            return a <= start < b
        return k == "no-audit"

    def _faked_leaf(self, k: int) -> bool:
        return self.kind == "dodge" and k < int(self.arg.split(":")[0])

    async def Mine(self, request, context):
        for ch in request.chunks:
            n_before = self.mined
            if self.kind == "stall" or (self.kind == "lie-then-stall" and n_before >= int(self.arg)):
                await asyncio.sleep(3600)
            if self.kind == "lie-then-exit" and n_before >= int(self.arg):
                os._exit(0)
            if self.kind == "honest" and self.arg:
                await asyncio.sleep(float(self.arg))
            if request.game not in ("", "xor"):
                yield self._game_chunk(request, ch, n_before)
                continue
            ctx = f"{request.bundle_hash}\0{request.seed}\0{request.algorithm}\0{request.game or 'xor'}".encode()
            leaves = []
            for k, (a, n) in enumerate(ref.ranges(ch.start, ch.count)):
                v = spi.xor_range(request.seed, a, n)
                lie = self._lies_on_leaf(n_before, ch.start, a) or self._faked_leaf(k)
                leaves.append(v ^ fake(a) if lie else v)
            forge = None
            if self.kind == "forge-label":
                level, _, index = self.arg.partition(":")
                forge = (int(level), None if index == "*" else int(index or 0), fake(ch.start))
            tree = Tree(ch.start, ch.count, ref.levels(ctx, ch.start, ch.count, leaves, forge))
            self.trees[(ctx, ch.start, ch.count)] = tree
            self.mined += 1
            value, root = f'"{spi.hex64(tree.value)}"', tree.root
            if self.kind == "malformed":
                value = {"deep": "[" * 200_000 + "]" * 200_000, "huge": '"' + "a" * 900_000 + '"',
                         "int": "1" * 5000}.get(self.arg, value)
                root = b"abc" if self.arg == "root" else root
            yield pb.ChunkResult(bundle_hash="0" * 64 if self.kind == "foreign" else request.bundle_hash,
                                 start=ch.start, count=ch.count, value=value,
                                 node_id="impostor" if self.kind == "wrong-node" else self.node_id,
                                 seconds=0.001, root=root, n_leaves=tree.n_leaves)

    def _game_chunk(self, request, ch, n_before: int):
        """A game chunk: every leaf's value (a faked leaf is the value of the range one further)."""
        from exo_gay.registry import get_reduction
        from exo_gay.runner import reduce_range

        red = get_reduction(request.game)
        leaves = []
        for a, n in ref.ranges(ch.start, ch.count):
            shift = 1 if self._lies_on_leaf(n_before, ch.start, a) else 0
            leaves.append(reduce_range(request.seed, a + shift, n, request.algorithm, reduction=red, threads=1,
                                       backend="python"))
        self.mined += 1
        text = lambda v: json.dumps(red.to_wire(v), sort_keys=True, separators=(",", ":"))  # noqa: E731
        total = red.identity
        for v in leaves:
            total = red.combine(total, v)
        return pb.ChunkResult(bundle_hash=request.bundle_hash, start=ch.start, count=ch.count, value=text(total),
                              node_id=self.node_id, seconds=0.001, n_leaves=len(leaves),
                              leaf_values=[text(v) for v in leaves])

    async def Audit(self, request, context):
        if self.kind == "no-audit" or (self.kind == "lie-then-stall" and self.mined > int(self.arg)):
            await asyncio.sleep(3600)
        ctx = f"{request.bundle_hash}\0{request.seed}\0{request.algorithm}\0{request.game or 'xor'}".encode()
        tree = self.trees.get((ctx, request.chunk.start, request.chunk.count))
        if tree is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such commitment")
        self.audits += 1
        if any(self._faked_leaf(k) for k in request.leaves):
            self.dodged += 1
            mode = (self.arg.split(":") + ["unavailable"])[1]
            if mode == "exit":
                os._exit(0)
            if mode == "stall":
                await asyncio.sleep(3600)
            if mode == "garbage":
                return pb.AuditReply(bundle_hash=request.bundle_hash, start=tree.start, count=tree.count,
                                     node_id=self.node_id, leaves=[
                                         pb.LeafProof(index=k, value=int.from_bytes(os.urandom(8), "big"),
                                                      path=[pb.Sibling(digest=os.urandom(32), xor=1)])
                                         for k in request.leaves])
            await context.abort(grpc.StatusCode.UNAVAILABLE, "busy, try again later")
        proofs = []
        for k in request.leaves:
            path = [pb.Sibling(digest=d, xor=x) for d, x in tree.path(k)]
            if self.kind == "bad-path" and path:
                path[0].digest = b"\0" * 32
            proofs.append(pb.LeafProof(index=k, value=tree.leaf_value(k), path=path))
        return pb.AuditReply(bundle_hash=request.bundle_hash, start=tree.start, count=tree.count,
                             leaves=proofs, node_id=self.node_id)

    async def ColorAt(self, request, context):
        return pb.ColorAtReply(color=spi.color_at(request.seed, request.index), node_id=self.node_id)

    async def Capabilities(self, request, context):
        return pb.CapabilitiesReply(node_id="impostor" if self.kind == "wrong-node" else self.node_id,
                                    cores=1, threads=1, backend="python",
                                    colors_per_second=1.0 if self.kind == "stall" else 1e6,
                                    games=["xor", "furthest"], version="adversary", boot_id=os.urandom(16),
                                    auth_mode="none")


def handlers(adv: Adversary):
    msgs = {"Mine": (pb.MineRequest, pb.ChunkResult), "Audit": (pb.AuditRequest, pb.AuditReply),
            "ColorAt": (pb.ColorAtRequest, pb.ColorAtReply),
            "Capabilities": (pb.CapabilitiesRequest, pb.CapabilitiesReply)}
    table = {}
    for name, (req, resp) in msgs.items():
        make = grpc.unary_stream_rpc_method_handler if name == "Mine" else grpc.unary_unary_rpc_method_handler
        table[name] = make(getattr(adv, name), req.FromString, resp.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE, table)


async def serve_adversary(node_id: str, behaviour: str) -> None:
    server = grpc.aio.server(options=[("grpc.max_send_message_length", 4 << 20), ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handlers(Adversary(node_id, behaviour)),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening 127.0.0.1:{port} node={node_id} behaviour={behaviour}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--node-id", required=True)
    ap.add_argument("--behaviour", required=True)
    a = ap.parse_args()
    sys.exit(asyncio.run(serve_adversary(a.node_id, a.behaviour)))
