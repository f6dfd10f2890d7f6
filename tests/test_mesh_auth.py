"""Security: HMAC on every request and response, replay refused, real sockets and processes."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from miner_harness import run, with_miner

from exo_gay import spi
from exo_gay.bundle import make_bundle
from exo_gay.cliutil import UsageError
from exo_gay.mesh import mesh_pb2 as pb
from exo_gay.mesh.auth import AuthError, Verifier, load_key, sign
from exo_gay.mesh.client import MinerClient, MinerError
from exo_gay.mesh.cluster import Peer
from exo_gay.mesh.coordinator import Coordinator
from exo_gay.mesh.service import start_miner
from exo_gay.mesh.wire import COLOR_AT

KEY = bytes(range(32))
OTHER = b"\x01" * 32
SEED = 7202985


async def _with_miner(fn, key):
    return await with_miner(fn, "m", key=key)


def _raw_color_at(ch):
    return ch.unary_unary(COLOR_AT, request_serializer=pb.ColorAtRequest.SerializeToString,
                          response_deserializer=pb.ColorAtReply.FromString)


def test_signed_request_and_reply_are_accepted():
    async def go(ch, _):
        return await MinerClient(ch, KEY).color_at(SEED, 9)
    assert run(_with_miner(go, KEY)) == spi.color_at(SEED, 9)


@pytest.mark.parametrize("client_key", [None, OTHER])
def test_missing_or_wrong_key_is_unauthenticated(client_key):
    async def go(ch, servicer):
        with pytest.raises(MinerError) as e:
            await MinerClient(ch, client_key).color_at(SEED, 9)
        with pytest.raises(MinerError) as e2:
            async for _ in MinerClient(ch, client_key).mine("h", SEED, "canonical", "xor", [(0, 10)], timeout=5):
                pass
        return e.value.status, e2.value.status, servicer.chunks_mined
    assert run(_with_miner(go, KEY)) == ("UNAUTHENTICATED", "UNAUTHENTICATED", 0)


def test_a_replayed_request_is_refused():
    async def go(ch, _):
        req = sign(KEY, "ColorAt", pb.ColorAtRequest(seed=SEED, index=3, algorithm="canonical"))
        first = await _raw_color_at(ch)(req, timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await _raw_color_at(ch)(req, timeout=5)  # the same bytes again: an eavesdropper's replay
        return first.color, e.value.code(), e.value.details()
    colour, code, details = run(_with_miner(go, KEY))
    assert colour == spi.color_at(SEED, 3)
    assert code == grpc.StatusCode.UNAUTHENTICATED and "replayed" in details


def _signed_at(ts_ms: int) -> pb.ColorAtRequest:
    """A correctly signed request with a chosen timestamp (a message captured long ago)."""
    from exo_gay.mesh.auth import _body, _mac

    req = pb.ColorAtRequest(seed=SEED, index=3, algorithm="canonical")
    req.auth.timestamp_ms, req.auth.nonce = ts_ms, b"\x07" * 16
    req.auth.mac = _mac(KEY, "ColorAt", ts_ms, req.auth.nonce, b"", _body(req))
    return req


def test_an_old_or_altered_request_is_refused():
    async def go(ch, _):
        out = []
        altered = sign(KEY, "ColorAt", pb.ColorAtRequest(seed=SEED, index=3, algorithm="canonical"))
        altered.index = 4  # changed in flight
        for msg in (_signed_at(int(time.time() * 1000) - 120_000), altered):
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await _raw_color_at(ch)(msg, timeout=5)
            out.append((e.value.code(), e.value.details()))
        return out
    (c1, d1), (c2, d2) = run(_with_miner(go, KEY))
    assert c1 == c2 == grpc.StatusCode.UNAUTHENTICATED
    assert "window" in d1 and "bad MAC" in d2
    Verifier(KEY).verify("ColorAt", _signed_at(int(time.time() * 1000)))  # the same, fresh: accepted


def test_a_reply_is_bound_to_its_request():
    reply = sign(KEY, "ColorAt.reply", pb.ColorAtReply(color=5, node_id="m"), request_nonce=b"n1" * 8)
    v = Verifier(KEY)
    v.verify("ColorAt.reply", reply, b"n1" * 8, remember=False)
    with pytest.raises(AuthError):
        v.verify("ColorAt.reply", reply, b"n2" * 8, remember=False)  # an old reply to another request


def test_miner_without_key_or_with_another_key_is_counted_failed_and_the_result_still_right():
    total = 12_000
    b = make_bundle(SEED, total, ["good"], chunk_size=1000, expected_xor=spi.xor_range(SEED, 0, total))

    async def go():
        servers = [await start_miner("good", threads=1, key=KEY), await start_miner("nokey", threads=1),
                   await start_miner("otherkey", threads=1, key=OTHER)]
        try:
            peers = [Peer(n, f"127.0.0.1:{s[1]}") for n, s in zip(("good", "nokey", "otherkey"), servers)]
            return await Coordinator(b, peers, key=KEY, spot_checks=1).run()
        finally:
            for s in servers:
                await s[0].stop(None)
    rep = run(go())
    assert rep.verified and rep.expected_matches
    status = {m["node_id"]: (m["status"], m["reason"]) for m in rep.miners}
    assert status["good"] == ("ok", "")
    assert status["nokey"][0] == "failed" and status["nokey"][1].startswith("UNAUTHENTICATED")  # unsigned reply
    assert status["otherkey"][0] == "failed" and status["otherkey"][1].startswith("UNAUTHENTICATED")
    assert sorted(rep.failed_miners) == ["nokey", "otherkey"]


def test_key_files(tmp_path):
    hexkey = tmp_path / "hex.key"
    hexkey.write_text(KEY.hex() + "\n")
    assert load_key(str(hexkey)) == KEY
    raw = tmp_path / "raw.key"
    raw.write_bytes(b"\xff\x00secret")
    assert load_key(str(raw)) == b"\xff\x00secret"
    (tmp_path / "empty.key").write_text("  \n")
    for bad in ("empty.key", "absent.key"):
        with pytest.raises(UsageError):
            load_key(str(tmp_path / bad))


def test_cli_with_key_files_end_to_end(cli, tmp_path):
    key = tmp_path / "k"
    key.write_text(KEY.hex())
    total = 6_000
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps(make_bundle(SEED, total, ["a", "b"], chunk_size=1000,
                                             expected_xor=spi.xor_range(SEED, 0, total)).to_json()))
    r = cli("mine", "--bundle", str(bundle), "--key-file", str(key), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["verified"]
    (tmp_path / "empty").write_text("")
    for k in ("empty", "absent"):
        r = cli("mine", "--bundle", str(bundle), "--key-file", str(tmp_path / k))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "key file" in r.stderr
        r = cli("serve", "--node-id", "x", "--port", "0", "--key-file", str(tmp_path / k))
        assert r.returncode == 2 and "key file" in r.stderr
