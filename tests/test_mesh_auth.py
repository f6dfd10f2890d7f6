"""Identity and replay: HMAC or Ed25519 on every request and response, each request bound to
one node and one boot of its miner; real sockets and processes."""

from __future__ import annotations

import json
import logging
import os
import stat

import grpc
import pytest
from miner_harness import run, with_miner

from exo_gay import spi
from exo_gay.bundle import make_bundle
from exo_gay.errors import InputError
from exo_gay.mesh import mesh_pb2 as pb
from exo_gay.mesh.auth import AuthError, Ed25519Auth, HmacAuth, RequestGuard, check_reply, keygen, load_key, sign
from exo_gay.mesh.client import MinerClient, MinerError, open_channel
from exo_gay.mesh.coordinator import Coordinator
from exo_gay.mesh.peers import Peer
from exo_gay.mesh.service import start_miner
from exo_gay.mesh.wire import COLOR_AT

KEY = bytes(range(32))
OTHER = b"\x01" * 32
SEED = 7202985


def _raw_color_at(ch):
    return ch.unary_unary(COLOR_AT, request_serializer=pb.ColorAtRequest.SerializeToString,
                          response_deserializer=pb.ColorAtReply.FromString)


async def _client(ch, key, node="m") -> MinerClient:
    c = MinerClient(ch, key, node)
    await c.capabilities()
    return c


def test_signed_request_and_reply_are_accepted():
    async def go(ch, _):
        return await (await _client(ch, KEY)).color_at(SEED, 9)
    assert run(with_miner(go, "m", key=KEY)) == spi.color_at(SEED, 9)


@pytest.mark.parametrize("client_key", [None, OTHER])
def test_missing_or_wrong_key_is_unauthenticated_and_logged(client_key, caplog):
    async def go(ch, servicer):
        c = MinerClient(ch, client_key, "m")
        with pytest.raises(MinerError) as e:
            await c.capabilities()
        with pytest.raises(MinerError) as e2:
            async for _ in c.mine("h", SEED, "canonical", "xor", [(0, 10)], timeout=5):
                pass
        return e.value.status, e2.value.status, servicer.chunks_mined, servicer.refused
    with caplog.at_level(logging.WARNING, logger="exo_gay.mesh.auth"):
        assert run(with_miner(go, "m", key=KEY)) == ("UNAUTHENTICATED", "UNAUTHENTICATED", 0, 2)
    assert sum("refused" in r.getMessage() for r in caplog.records) == 2


def _signed(auth, node: str, boot: bytes, index: int = 3) -> pb.ColorAtRequest:
    return sign(auth, "ColorAt", pb.ColorAtRequest(seed=SEED, index=index, algorithm="canonical"), node, boot)


def test_a_replayed_request_is_refused_by_the_same_miner_another_miner_and_after_a_restart():
    auth = HmacAuth(KEY, "coordinator")

    async def go():
        s1, p1, m1 = await start_miner("m", threads=1, key=KEY)
        s2, p2, _ = await start_miner("n", threads=1, key=KEY)
        ch1, ch2 = open_channel(f"127.0.0.1:{p1}"), open_channel(f"127.0.0.1:{p2}")
        out = []
        try:
            req = _signed(auth, "m", m1.boot_id)
            out.append((await _raw_color_at(ch1)(req, timeout=5)).color)
            for ch in (ch1, ch2):  # the same bytes again, to the same miner and to another one
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    await _raw_color_at(ch)(req, timeout=5)
                out.append(e.value.details())
            fresh = _signed(auth, "m", m1.boot_id, index=4)
            await s1.stop(None)  # the miner restarts on the same port: a new boot id
            s1, _, _ = await start_miner("m", port=p1, threads=1, key=KEY)
            ch1b = open_channel(f"127.0.0.1:{p1}")
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await _raw_color_at(ch1b)(fresh, timeout=5)  # never used before, but for the old boot
            out.append(e.value.details())
            await ch1b.close()
        finally:
            await ch1.close()
            await ch2.close()
            await s1.stop(None)
            await s2.stop(None)
        return out
    color, again, other, restarted = run(go())
    assert color == spi.color_at(SEED, 3)
    assert "replayed" in again and "meant for node 'm'" in other and "another boot" in restarted


def test_an_old_or_altered_request_is_refused():
    auth = HmacAuth(KEY, "coordinator")
    guard = RequestGuard(HmacAuth(KEY), "m", b"B" * 16)
    old = _signed(auth, "m", b"B" * 16)
    old.auth.timestamp_ms -= 120_000
    old.auth.mac = auth.seal(__import__("exo_gay.mesh.auth", fromlist=["_payload"])._payload("ColorAt", old, b""))
    altered = _signed(auth, "m", b"B" * 16)
    altered.index = 4  # changed in flight
    with pytest.raises(AuthError, match="window"):
        guard.verify("ColorAt", old)
    with pytest.raises(AuthError, match="bad MAC"):
        guard.verify("ColorAt", altered)
    guard.verify("ColorAt", _signed(auth, "m", b"B" * 16))  # a fresh one: accepted


def test_a_reply_is_bound_to_its_request_and_its_node():
    node = HmacAuth(KEY, "m")
    reply = sign(node, "ColorAt.reply", pb.ColorAtReply(color=5, node_id="m"), request_nonce=b"n1" * 8)
    check_reply(HmacAuth(KEY), "ColorAt.reply", reply, "m", b"n1" * 8)
    with pytest.raises(AuthError):
        check_reply(HmacAuth(KEY), "ColorAt.reply", reply, "m", b"n2" * 8)  # an old reply to another request
    with pytest.raises(AuthError, match="not by"):
        check_reply(HmacAuth(KEY), "ColorAt.reply", reply, "other", b"n1" * 8)


def _pair(name: str, trusted: dict) -> Ed25519Auth:
    a = Ed25519Auth(os.urandom(32), name)
    trusted[name] = a.public_key
    return a


def test_ed25519_each_node_speaks_only_for_itself():
    """An impostor holding a valid key of the cluster cannot answer as another node."""
    trusted: dict[str, bytes] = {}
    coord, good, evil = _pair("coord", trusted), _pair("good", trusted), _pair("evil", trusted)
    for a in (coord, good, evil):
        a.trusted = trusted
    total = 8_000
    b = make_bundle(SEED, total, ["good"], chunk_size=1000, expected_xor=spi.xor_range(SEED, 0, total))

    async def go():
        servers = [await start_miner("good", threads=1, key=good),
                   await start_miner("victim", threads=1, key=evil.named("victim"))]  # evil's key at victim's place
        trusted["victim"] = Ed25519Auth(os.urandom(32)).public_key  # the cluster file's key for victim
        try:
            peers = [Peer(n, f"127.0.0.1:{s[1]}") for n, s in zip(("good", "victim"), servers, strict=True)]
            return await Coordinator(b, peers, auth=coord).run()
        finally:
            for s in servers:
                await s[0].stop(None)
    rep = run(go())
    assert rep.verified and rep.expected_matches and rep.wrong_miners == []
    victim = next(m for m in rep.miners if m.node_id == "victim")
    assert victim.status == "failed" and "UNAUTHENTICATED" in victim.reason


def test_miner_without_key_or_with_another_key_is_counted_failed_and_the_result_still_right():
    total = 12_000
    b = make_bundle(SEED, total, ["good"], chunk_size=1000, expected_xor=spi.xor_range(SEED, 0, total))

    async def go():
        servers = [await start_miner("good", threads=1, key=KEY), await start_miner("nokey", threads=1),
                   await start_miner("otherkey", threads=1, key=OTHER)]
        try:
            peers = [Peer(n, f"127.0.0.1:{s[1]}") for n, s in zip(("good", "nokey", "otherkey"), servers, strict=True)]
            return await Coordinator(b, peers, auth=KEY).run()
        finally:
            for s in servers:
                await s[0].stop(None)
    rep = run(go())
    assert rep.verified and rep.expected_matches
    status = {m.node_id: (m.status, m.reason) for m in rep.miners}
    assert status["good"] == ("ok", "")
    assert status["nokey"][0] == "failed" and status["nokey"][1].startswith("UNAUTHENTICATED")  # unsigned reply
    assert status["otherkey"][0] == "failed" and status["otherkey"][1].startswith("UNAUTHENTICATED")


def test_key_files(tmp_path):
    hexkey = tmp_path / "hex.key"
    hexkey.write_text(KEY.hex() + "\n")
    assert load_key(str(hexkey)) == KEY
    (tmp_path / "spaced.key").write_text("  " + KEY.hex() + "  \n\n")
    assert load_key(str(tmp_path / "spaced.key")) == KEY  # surrounding whitespace stripped
    (tmp_path / "raw.key").write_bytes(b"\xff\x00 a raw secret key of many bytes\n")
    (tmp_path / "empty.key").write_text("  \n")
    (tmp_path / "short.key").write_text("abcdef0123\n")
    (tmp_path / "readme.key").write_text("# A README\n\nwith " + KEY.hex() + " inside\n")
    (tmp_path / "public.key").write_text("ed25519:" + "ab" * 32 + "\n")
    for bad in ("empty.key", "absent.key", "short.key", "raw.key", "readme.key", "public.key"):
        with pytest.raises(InputError, match="key file"):
            load_key(str(tmp_path / bad))


def test_keygen_writes_private_files_and_never_overwrites(cli, tmp_path):
    r = cli("keygen", "--out", str(tmp_path / "node.key"))
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith("ed25519:")
    assert stat.S_IMODE(os.stat(tmp_path / "node.key").st_mode) == 0o600
    r = cli("keygen", "--out", str(tmp_path / "node.key"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "never overwritten" in r.stderr
    r = cli("keygen", "--shared", "--out", str(tmp_path / "shared.key"))
    assert r.returncode == 0 and len(load_key(str(tmp_path / "shared.key"))) == 32
    assert keygen(str(tmp_path / "x.key")).startswith("ed25519:")


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
    (tmp_path / "short").write_text("abc")
    for k in ("empty", "absent", "short"):
        r = cli("mine", "--bundle", str(bundle), "--key-file", str(tmp_path / k))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "key file" in r.stderr
        r = cli("serve", "--node-id", "x", "--port", "0", "--key-file", str(tmp_path / k))
        assert r.returncode == 2 and "key file" in r.stderr


@pytest.mark.slow
def test_cli_ed25519_cluster_end_to_end(cli, tmp_path):
    """keygen per node, public keys in the cluster file, `serve` processes, `mine` verifies."""
    import subprocess
    import sys

    from test_mesh_faults import ROOT, read_port

    pubs = {}
    for name in ("a", "b", "boss"):
        r = cli("keygen", "--out", str(tmp_path / f"{name}.key"))
        pubs[name] = r.stdout.strip().splitlines()[-1]
    cluster = tmp_path / "cluster.json"
    doc = {"peers": {n: {"address": "127.0.0.1", "port": 1 + i, "gay": {"public_key": pubs[n]}}
                      for i, n in enumerate(("a", "b"))},
           "gay": {"coordinators": {"boss": pubs["boss"]}}}
    cluster.write_text(json.dumps(doc))
    procs = []
    try:
        for n in ("a", "b"):
            procs.append(subprocess.Popen([sys.executable, "-m", "exo_gay", "serve", "--node-id", n, "--port", "0",
                                           "--threads", "1", "--key-file", str(tmp_path / f"{n}.key"),
                                           "--cluster", str(cluster)], cwd=ROOT, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            doc["peers"][n]["port"] = read_port(procs[-1])
        cluster.write_text(json.dumps(doc))
        total = 6_000
        bundle = tmp_path / "b.json"
        bundle.write_text(json.dumps(make_bundle(SEED, total, ["a", "b"], chunk_size=1000,
                                                 expected_xor=spi.xor_range(SEED, 0, total)).to_json()))
        r = cli("mine", "--bundle", str(bundle), "--cluster", str(cluster), "--key-file", str(tmp_path / "boss.key"),
                "--json")
        rep = json.loads(r.stdout)
        assert r.returncode == 0 and rep["verified"]
        assert int(rep["combined"]["xor"], 16) == spi.xor_range(SEED, 0, total)
        assert all(m["capabilities"]["auth_mode"] == "ed25519" for m in rep["miners"])
        r = cli("mine", "--bundle", str(bundle), "--cluster", str(cluster), "--key-file", str(tmp_path / "a.key"),
                "--json")  # a's key is a peer's: only gay.coordinators may command work
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "coordinators" in r.stderr
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
