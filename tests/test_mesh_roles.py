"""Roles and limits (issue 24, items 4 and 5), probed from the wire: requests built from
mesh.proto and signed by hand, real miners on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import time

import grpc
import pytest
from miner_harness import run

from exo_gay import spi
from exo_gay.mesh import mesh_pb2 as pb
from exo_gay.mesh.auth import AuthError, Ed25519Auth, HmacAuth, RequestGuard, _payload, sign
from exo_gay.mesh.client import open_channel
from exo_gay.mesh.service import start_miner

SEED = 7202985
SERVICE = "/exo_gay.mesh.Miner/"


def _stub(ch, method: str, req, resp, stream=False):
    kind = ch.unary_stream if stream else ch.unary_unary
    return kind(SERVICE + method, request_serializer=req.SerializeToString, response_deserializer=resp.FromString)


def _stamp(auth, method: str, msg, node: str, boot: bytes, ahead_s: float):
    """Sign ``msg`` as if at now + ahead_s (a future-dated request)."""
    sign(auth, method, msg, node, boot)
    msg.auth.timestamp_ms = int((time.time() + ahead_s) * 1000)
    msg.auth.mac = auth.seal(_payload(method, msg, b""))
    return msg


def test_a_future_dated_nonce_is_remembered_as_long_as_its_timestamp_is_acceptable():
    """Issue 24: stamped 55 s ahead, replayed 62 s later; here the same at a 1 s window."""
    auth = HmacAuth(b"k" * 32, "coordinator")
    guard = RequestGuard(HmacAuth(b"k" * 32), "m", b"B" * 16, window_s=1.0)
    req = _stamp(auth, "ColorAt", pb.ColorAtRequest(seed=SEED, index=1), "m", b"B" * 16, ahead_s=0.9)
    guard.verify("ColorAt", req)
    time.sleep(1.2)  # received more than a window ago, its timestamp still acceptable
    with pytest.raises(AuthError, match="replayed"):
        guard.verify("ColorAt", req)


def test_a_full_nonce_memory_refuses_rather_than_forgets():
    auth = HmacAuth(b"k" * 32, "coordinator")
    guard = RequestGuard(HmacAuth(b"k" * 32), "m", b"B" * 16, max_nonces=3)
    reqs = [sign(auth, "ColorAt", pb.ColorAtRequest(seed=SEED, index=i), "m", b"B" * 16) for i in range(4)]
    for r in reqs[:3]:
        guard.verify("ColorAt", r)
    with pytest.raises(AuthError, match="within the window"):
        guard.verify("ColorAt", reqs[3])
    with pytest.raises(AuthError, match="replayed"):
        guard.verify("ColorAt", reqs[0])


def _keys():
    names = ("boss", "a", "b")
    seeds = {n: os.urandom(32) for n in names}
    trusted = {n: Ed25519Auth(s).public_key for n, s in seeds.items()}
    return {n: Ed25519Auth(seeds[n], n, trusted, frozenset({"boss"})) for n in names}


def test_only_a_coordinators_key_commands_mine_and_audit():
    """Another miner's key (valid, in the cluster file) may ask Capabilities, not for work."""
    keys = _keys()

    async def go():
        server, port, servicer = await start_miner("a", threads=1, key=keys["a"])
        ch = open_channel(f"127.0.0.1:{port}")
        out = {}
        try:
            caps = _stub(ch, "Capabilities", pb.CapabilitiesRequest, pb.CapabilitiesReply)
            boot = (await caps(sign(keys["b"], "Capabilities", pb.CapabilitiesRequest(), "a"), timeout=5)).boot_id
            mine = _stub(ch, "Mine", pb.MineRequest, pb.ChunkResult, stream=True)
            audit_ = _stub(ch, "Audit", pb.AuditRequest, pb.AuditReply)

            def mine_req(signer):
                return sign(keys[signer], "Mine", pb.MineRequest(bundle_hash="h" * 64, seed=SEED, algorithm="canonical",
                                                                 game="xor", chunks=[pb.Chunk(start=0, count=512)]),
                            "a", boot)
            for signer in ("b", "boss"):
                try:
                    out[signer] = [r async for r in mine(mine_req(signer), timeout=10)]
                except grpc.aio.AioRpcError as e:
                    out[signer] = (e.code(), e.details())
            res = out["boss"][0]
            for signer in ("b", "boss"):
                req = sign(keys[signer], "Audit", pb.AuditRequest(
                    bundle_hash="h" * 64, seed=SEED, algorithm="canonical", game="xor",
                    chunk=pb.Chunk(start=0, count=512), root=res.root, leaves=[0, 1]), "a", boot)
                try:
                    out["audit-" + signer] = await audit_(req, timeout=10)
                except grpc.aio.AioRpcError as e:
                    out["audit-" + signer] = (e.code(), e.details())
            out["mined"] = servicer.chunks_mined
        finally:
            await ch.close()
            await server.stop(None)
        return out
    out = run(go())
    assert out["b"][0] == grpc.StatusCode.UNAUTHENTICATED and "not a coordinator" in out["b"][1]
    assert out["audit-b"][0] == grpc.StatusCode.UNAUTHENTICATED and "not a coordinator" in out["audit-b"][1]
    assert out["mined"] == 1 and int(out["boss"][0].value.strip('"'), 16) == spi.xor_range(SEED, 0, 512)
    assert [p.value for p in out["audit-boss"].leaves] == [spi.xor_range(SEED, 0, 2), spi.xor_range(SEED, 2, 2)]


def test_without_a_key_one_client_holding_its_calls_does_not_lock_out_another_on_the_same_host():
    """The per-client limit is per connection without a key (by IP, every local client shared it)."""
    async def go():
        server, port, _ = await start_miner("m", threads=1, max_per_client=1)
        # another connection, as from another process (channels in one process share connections)
        hog = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
        coord = open_channel(f"127.0.0.1:{port}")
        try:
            req = lambda n: pb.MineRequest(bundle_hash="h" * 64, seed=SEED, algorithm="canonical",  # noqa: E731
                                           game="xor", chunks=[pb.Chunk(start=0, count=n)])
            held = _stub(hog, "Mine", pb.MineRequest, pb.ChunkResult, stream=True)(req(1 << 34), timeout=60)
            it = held.__aiter__()
            pending = asyncio.ensure_future(it.__anext__())
            await asyncio.sleep(0.5)  # the hog's call is in flight, its one slot used
            got = [r async for r in _stub(coord, "Mine", pb.MineRequest, pb.ChunkResult, stream=True)(
                req(1000), timeout=30)]
            held.cancel()
            pending.cancel()
            return got
        finally:
            await hog.close()
            await coord.close()
            await server.stop(None)
    got = run(go())
    assert int(got[0].value.strip('"'), 16) == spi.xor_range(SEED, 0, 1000)


def test_health_watch_streams_are_limited():
    from exo_gay.mesh import health_pb2
    from exo_gay.mesh.service import MAX_WATCHES

    Req, Resp = health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse

    async def go():
        server, port, _ = await start_miner("m", threads=1)
        ch = open_channel(f"127.0.0.1:{port}")
        calls, firsts = [], []
        try:
            watch = ch.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=Req.SerializeToString,
                                    response_deserializer=Resp.FromString)
            for _ in range(MAX_WATCHES):
                c = watch(Req(service=""), timeout=30)
                calls.append(c)
                firsts.append((await c.read()).status)
            extra = watch(Req(service=""), timeout=30)
            try:
                await extra.read()
                refused = None
            except grpc.aio.AioRpcError as e:
                refused = e.code()
            for c in calls[:1]:
                c.cancel()
            await asyncio.sleep(0.3)
            again = watch(Req(service=""), timeout=30)
            status = (await again.read()).status
            again.cancel()
        finally:
            for c in calls:
                c.cancel()
            await ch.close()
            await server.stop(None)
        return firsts, refused, status
    firsts, refused, status = run(go())
    assert set(firsts) == {Resp.SERVING} and refused == grpc.StatusCode.RESOURCE_EXHAUSTED and status == Resp.SERVING
