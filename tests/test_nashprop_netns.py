"""NashProp across hosts: members in network namespaces created here (veth pairs on a bridge,
real multicast scouting on 224.0.0.224:42069), the same command with default flags and a
shared key on every "host". Skipped, with the reason, where namespaces cannot be created (not
root, no `ip`). Traffic stays inside the namespaces (10.231.<run>.0/24)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from nashprop_adversary import ref_xor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 7202985
pytestmark = pytest.mark.slow


def _ip(*args, ns=None, check=True):
    cmd = ["ip", *(["netns", "exec", ns, "ip"] if ns else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


class Lan:
    """A hub namespace with a bridge and one namespace per host, each with a veth on the bridge."""

    def __init__(self, hosts: int):
        tag = f"{os.getpid() % 10000}"
        self.hub = f"nph{tag}"
        self.ns = [f"np{tag}h{i}" for i in range(hosts)]
        self.net = 10 + os.getpid() % 200
        _ip("netns", "add", self.hub)
        self.made = [self.hub]
        _ip("link", "add", "br0", "type", "bridge", ns=self.hub)
        _ip("link", "set", "br0", "up", ns=self.hub)
        for i, ns in enumerate(self.ns):
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip("link", "add", f"v{i}", "netns", ns, "type", "veth", "peer", "name", f"h{i}", "netns", self.hub)
            _ip("link", "set", f"h{i}", "master", "br0", "up", ns=self.hub)
            _ip("link", "set", "lo", "up", ns=ns)
            _ip("addr", "add", f"10.231.{self.net}.{i + 1}/24", "dev", f"v{i}", ns=ns)
            _ip("link", "set", f"v{i}", "up", ns=ns)
            _ip("route", "add", "default", "dev", f"v{i}", ns=ns)

    def cut(self, i: int, up: bool) -> None:
        _ip("link", "set", f"h{i}", "up" if up else "down", ns=self.hub)

    def popen(self, i: int, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.ns[i], sys.executable, "-m", "exo_gay", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)

    def close(self) -> None:
        for ns in reversed(self.made):
            _ip("netns", "del", ns, check=False)


@pytest.fixture
def lan(request):
    if shutil.which("ip") is None:
        pytest.skip("no `ip` command: cannot create network namespaces")
    hosts = getattr(request, "param", 3)
    try:
        net = Lan(hosts)
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"network namespaces refused here: {getattr(e, 'stderr', e)}")
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def keyfile(tmp_path):
    p = tmp_path / "nashprop.key"
    p.write_text(os.urandom(32).hex() + "\n")
    return str(p)


def _args(me, total, key, session, *extra):
    return ["-v", "nashprop", "--me", me, "--total", str(total), "--key-file", key, "--session", session,
            "--sync", "0.3", "--threads", "1", "--timeout", "60", "--json", *extra]


def _finish(procs, timeout=150):
    out = {}
    for name, p in procs.items():
        so, se = p.communicate(timeout=timeout)
        out[name] = (p.returncode, json.loads(so) if so.strip() else None, se)
    return out


@pytest.mark.parametrize("lan", [4], indirect=True)
def test_default_flags_with_a_key_find_each_other_across_hosts_and_a_wrong_key_stays_out(lan, keyfile, tmp_path):
    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex())
    total = 3_000_000
    procs = {f"n{i}": lan.popen(i, _args(f"n{i}", total, keyfile, "lan", "--expect", "3")) for i in range(3)}
    # a fourth host with another key claims a member's name: its token has no valid MAC for the others
    impostor = lan.popen(3, _args("n1", total, str(other), "lan", "--expect", "3", "--wait", "8"))
    res = _finish(procs)
    want = f"0x{ref_xor(SEED, 0, total):016x}"
    for name, (rc, doc, err) in res.items():
        assert rc == 0, (name, err[-2000:])
        assert doc["xor"] == want and sorted(doc["members"]) == ["n0", "n1", "n2"]
    _, err = impostor.communicate(timeout=60)
    assert impostor.returncode == 1 and "expected 3 members, saw 1" in err


@pytest.mark.parametrize("lan", [4], indirect=True)
def test_k_plus_one_members_never_verify_a_wrong_value(lan, keyfile):
    total = 2_000_000
    t0 = time.monotonic()
    procs = {f"n{i}": lan.popen(i, _args(f"n{i}", total, keyfile, "kp1", "--expect", "3", "--wait", "15"))
             for i in range(4)}
    res = _finish(procs)
    assert time.monotonic() - t0 < 15 + 60 + 15 + 30
    want = f"0x{ref_xor(SEED, 0, total):016x}"
    verified = [n for n, (_, doc, _) in res.items() if doc and doc.get("verified")]
    for name, (rc, doc, err) in res.items():
        assert "Traceback" not in err
        if name in verified:
            assert rc == 0 and doc["xor"] == want and len(doc["members"]) == 3
        else:
            assert rc == 1 and doc["reason"], (name, err[-1000:])
    # as documented: never K+1 verified, never a wrong value; a member that settled may end exact
    # (taking over those that left when they saw K+1), the others exit 1 saying why
    assert len(verified) <= 3 and len(res) - len(verified) >= 1


def test_a_partition_that_heals_never_verifies_without_audits(lan, keyfile):
    """Host 2 is cut off mid-mining and reconnected 20 s later. Alone, it has nobody to audit its
    work: exit 1. The other side takes over its range and ends exact, or, if host 2 comes back
    first, exits 1 saying so. Nobody prints a wrong value, nobody passes --timeout + 15 s."""
    total = 30_000_000
    procs = {f"n{i}": lan.popen(i, _args(f"n{i}", total, keyfile, "heal", "--members", "n0,n1,n2",
                                          "--backend", "python", "--timeout", "90", "--wait", "30"))
             for i in range(3)}
    time.sleep(8)
    t0 = time.monotonic()
    lan.cut(2, up=False)
    time.sleep(20)
    lan.cut(2, up=True)
    res = _finish(procs, timeout=200)
    assert time.monotonic() - t0 < 90 + 15 + 10
    want = f"0x{ref_xor(SEED, 0, total):016x}"
    for rc, doc, err in res.values():
        assert "Traceback" not in err, err[-2000:]
        if doc and doc.get("verified"):
            assert rc == 0 and doc["xor"] == want
        else:
            assert rc == 1
    # the cut-off host alone has nobody to audit it: with both others counted gone it cannot have
    # printed a result. It may have noticed nothing (the links outlived the cut), or only one of
    # them gone (seen in a full run: n2 exact with gone ["n1"]): a member still live in its view audited
    # its records, and the Final it took was checked down its chain to its own summary.
    doc = res["n2"][1]
    if doc["verified"]:
        assert set(doc["gone"]) != {"n0", "n1"}, (doc, {n: err[-3000:] for n, (_, _, err) in res.items()})
