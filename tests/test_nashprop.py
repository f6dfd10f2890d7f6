"""NashProp: the pure plan and aggregation, and real members (processes over zenoh on 127.0.0.1).

Known answers come from `ref_xor` (tests/nashprop_adversary.py), numpy written from SplitMix64's definition,
not from our kernels; the lying member there is written from the wire format in docs/nashprop.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nashprop_adversary import ref_xor
from netutil import free_ports

from exo_gay.bundle import nashprop_bundle
from exo_gay.nashprop.aggregate import AggNode, Final, Summary, check_parts, decode
from exo_gay.nashprop.plan import Plan, Tree, View
from exo_gay.nashprop.sim import simulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADVERSARY = os.path.join(ROOT, "tests", "nashprop_adversary.py")
SEED = 7202985


def test_ref_xor_matches_splitmix64():
    # splitmix64.c from state 0: first output 0xe220a8397b1dcdaf (the reference splitmix64.c)
    assert ref_xor(0, 0, 1) == 0xE220A8397B1DCDAF


# ------------------------------------------------------------------ pure plan


def test_plan_ranges_are_the_nashprop_bundle():
    names = [f"host{i}" for i in range(7)]
    plan = Plan.make(SEED, 1000, names)
    b = nashprop_bundle(SEED, names, 1000)
    assert [(r.host, r.start, r.count) for r in b.ranges] == [
        (plan.order[p], *plan.range_of(p)) for p in range(plan.n)]


@given(st.integers(1, 400), st.integers(2, 9))
@settings(max_examples=60, deadline=None)
def test_tree_is_preorder_with_contiguous_subtrees(n, k):
    t = Tree(n, k)
    assert t.parent[0] == -1 and t.end[0] == n

    def depth_of(p):
        return 0 if p == 0 else 1 + depth_of(t.parent[p])
    assert t.depth() == max(depth_of(p) for p in range(n))
    for p in range(n):
        kids = list(t.children(p))
        assert len(kids) <= k
        # the children's blocks tile (p, end[p]) exactly
        assert [p + 1] + [t.end[c] for c in kids[:-1]] == kids or not kids
        assert (t.end[kids[-1]] if kids else p + 1) == t.end[p]
        for c in kids:
            assert t.parent[c] == p


@given(st.integers(2, 200), st.integers(2, 6), st.data())
@settings(max_examples=80, deadline=None)
def test_takeover_rule_partitions_the_tree(n, k, data):
    """Whatever is out: each out position is composed by exactly one live member and mined by
    exactly one; each live member but the acting root reports to exactly one member, which lists
    it; the subtrees composed or reported tile [0, n) exactly once."""
    t = Tree(n, k)
    out = data.draw(st.sets(st.integers(0, n - 1), max_size=n - 1))
    v = View(t, dead=out)
    live = [p for p in range(n) if p not in out]
    composed_by, reported_to, mined_by = {}, {}, {}
    covered = []
    for p in live:
        comp, rep = v.below(p)
        for x in comp:
            assert x not in composed_by
            composed_by[x] = p
            covered.append(x)
        for r, lo in rep:
            assert r not in reported_to
            reported_to[r] = p
            assert lo in (r, v.top(r))
        for x in v.mined_by(p):
            assert x not in mined_by
            mined_by[x] = p
    root = v.acting_root()
    assert root == min(live)
    assert set(mined_by) == out
    assert set(composed_by) == out
    for x in out:
        assert v.miner(x) == mined_by[x]
    for p in live:
        covered.append(p)
        if p != root:
            assert reported_to[p] == v.send_to(p)
    assert root not in reported_to and v.send_to(root) == -1
    assert sorted(covered) == list(range(n))
    for x, p in composed_by.items():
        assert v.composer(x) == p


def test_summary_and_final_wire_round_trip_and_refusals():
    s = Summary(3, 9, 30, 90, 0xDEADBEEF, 2, 1)
    f = Final(0x1234, 1000, 10, 1, 0, 0)
    assert decode(s.encode()) == s and decode(f.encode()) == f
    with pytest.raises(ValueError):
        decode(b"\x01" + b"\0" * 5)
    t = Tree(10, 3)
    plan = Plan.make(SEED, 1000, [f"m{i}" for i in range(10)], 3)
    node = AggNode(0, t, plan.start, View(t))
    child = next(iter(t.children(0)))
    # a summary whose span is not the sender's subtree is refused
    wrong = Summary(child, t.end[child] + 1, plan.start(child), plan.start(t.end[child] + 1), 1, 0)
    assert not node.receive(child, wrong)
    assert node.receive(child, Summary(child, t.end[child], plan.start(child), plan.start(t.end[child]), 1, 0))


def test_check_parts_catches_a_false_sum_and_a_bad_tiling():
    t = Tree(13, 3)
    plan = Plan.make(SEED, 1300, [f"m{i}" for i in range(13)], 3)
    node = AggNode(0, t, plan.start, View(t))
    span = node.span
    kids = list(t.children(0))
    subs = [Summary(*span(c), xor=0x10 + c, takeovers=0) for c in kids]
    x = 0xAB
    for s_ in subs:
        x ^= s_.xor
    good = Summary(*span(0), xor=x, takeovers=0)
    assert check_parts(span, good, [(0, 0xAB)], subs) is None
    assert "XOR" in check_parts(span, Summary(*span(0), xor=x ^ 1, takeovers=0), [(0, 0xAB)], subs)
    assert "tile" in check_parts(span, good, [(0, 0xAB)], subs[:-1])  # a subtree left out
    assert "tile" in check_parts(span, good, [(0, 0xAB), (1, 0)], subs)  # a position counted twice


@pytest.mark.parametrize("n,k,loss,fs,fm", [(1, 4, 0, 0, 0), (2, 2, 0, 0, 0), (34, 4, 0, 0, 0),
                                            (500, 8, 0.1, 0.05, 0.02), (300, 2, 0.3, 0.2, 0.1),
                                            (400, 3, 0.05, 0.5, 0.2)])
def test_simulation_exact_under_loss_and_failures(n, k, loss, fs, fm):
    r = simulate(n, k=k, loss=loss, fail_start=fs, fail_mid=fm, per_member=3, rng_seed=n)
    assert r.verified
    assert r.xor == ref_xor(SEED, 0, n * 3)
    assert r.failed_start == int(fs * n)


@given(st.integers(2, 120), st.integers(2, 5), st.floats(0, 0.9), st.floats(0, 0.3), st.integers(0, 1 << 30))
@settings(max_examples=40, deadline=None)
def test_simulation_exact_whatever_fails(n, k, fs, loss, rng_seed):
    r = simulate(n, k=k, loss=loss, fail_start=fs, fail_mid=0.0, per_member=2, rng_seed=rng_seed)
    assert r.verified and r.xor == ref_xor(SEED, 0, 2 * n)


@settings(max_examples=10, deadline=None)
@given(st.integers(20, 400), st.sampled_from([2, 4, 16]), st.sampled_from([0.0, 0.01]), st.integers(1, 10**6),
       st.sampled_from([0, 1, 3]))
def test_simulation_exact_with_kills_in_every_round_and_own_views(n, k, loss, rng_seed, delay):
    """Kills in every round 2..11 (the promoted member needs the gone member's own XOR, sent by
    its miner even after the Final), each member with its own view hearing of deaths late."""
    r = simulate(n, k=k, loss=loss, fail_start=0.01, fail_mid=0.05, fail_rounds=tuple(range(2, 12)),
                 notice_delay=delay, rng_seed=rng_seed, max_rounds=300)
    assert r.exact, r
    assert r.failed_mid >= min(10, r.rounds - 1)  # at least one kill in each round that ran


def test_simulation_messages_per_member_do_not_grow_with_n():
    small = simulate(64, k=8, per_member=1)
    big = simulate(20000, k=8, per_member=1)
    assert small.verified and big.verified
    # one summary up or the Final to each of k children; k summaries and one Final in: whatever n
    assert big.sent_max <= 8 and big.recv_max <= 8 + 1
    assert big.per_member_round < 2 and small.per_member_round < 2


# ------------------------------------------------------------------ real members


def _spawn(names, total, extra=None, session=None, sync="0.3", pieces="8", common=(), python=None,
           connect=None, adversary=None, attacks=None, outsiders=None):
    """One process per member, explicit loopback endpoints, no multicast. ``python`` maps a name
    to the interpreter command that starts it; ``connect`` a name to the members it may dial;
    ``adversary`` a name to the mode of the lying member (tests/nashprop_adversary.py) run there."""
    session = session or secrets.token_hex(6)
    ports = free_ports(len(names))
    procs = {}
    for i, name in enumerate(names):
        members = [m for m in names if m not in (outsiders or ())]
        if name in (adversary or {}):
            cmd = [sys.executable, ADVERSARY, "--mode", adversary[name], "--seed", str(SEED), "--total", str(total),
                   "--members", ",".join(members), "--me", name, "--session", session, "--sync", sync,
                   "--pieces", pieces, "--listen", f"tcp/127.0.0.1:{ports[i]}", *(attacks or {}).get(name, ())]
        else:
            cmd = [*(python or {}).get(name, [sys.executable, "-m", "exo_gay"]), "-v", "nashprop",
                   "--seed", str(SEED), "--total", str(total), "--members", ",".join(members), "--me", name,
                   "--session", session, "--no-scout", "--listen", f"tcp/127.0.0.1:{ports[i]}", "--sync", sync,
                   "--pieces", pieces, "--threads", "1", "--wait", "60", "--timeout", "120", "--json", *common,
                   *((extra or {}).get(name, ()))]
        for j, other in enumerate(names):
            if j != i and (connect is None or other in connect.get(name, names)):
                cmd += ["--connect", f"tcp/127.0.0.1:{ports[j]}"]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    return procs


class _Stderr:
    """A process's stderr read line by line in a thread, so a test can wait for an event it logs."""

    def __init__(self, proc):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(proc.stderr,), daemon=True)
        self._thread.start()

    def _pump(self, f):
        for line in f:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append("")  # the end
            self._cond.notify_all()

    def wait_for(self, *words, timeout=120):
        """The first line holding every word; AssertionError when the process ends without one."""
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if line == "":
                        raise AssertionError(f"ended without a line holding {words}")
                    if all(w in line for w in words):
                        return line
                seen = len(self.lines)
                assert self._cond.wait(timeout), f"no line holding {words} in {timeout}s"

    def text(self):
        self._thread.join(timeout=30)
        return "".join(self.lines)


@contextlib.contextmanager
def _adversaries(procs, names):
    """Take the named adversaries' processes out of ``procs`` (leaving the honest members); at the
    block's end, whatever happens, terminate each and keep what it printed: {name: stdout}."""
    advs = {n: procs.pop(n) for n in names}
    told = {}
    try:
        yield told
    finally:
        for n, p in advs.items():
            p.terminate()
            told[n], _ = p.communicate(timeout=30)


def _results(procs, timeout=150, watched=None):
    out = {}
    for name, p in procs.items():
        if watched and name in watched:
            so = p.stdout.read()
            p.wait(timeout=timeout)
            se = watched[name].text()
        else:
            so, se = p.communicate(timeout=timeout)
        out[name] = (p.returncode, json.loads(so) if so.strip() else None, se)
    return out


def test_local_three_members_agree_exactly(cli):
    r = cli("nashprop", "--local", "3", "--total", "3000000", "--sync", "0.3", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verified"] is True and len(doc["members"]) == 3
    assert doc["xor"] == f"0x{ref_xor(SEED, 0, 3_000_000):016x}"


@pytest.mark.slow
def test_twelve_members_agree_exactly():
    names = [f"m{i:02d}" for i in range(12)]
    res = _results(_spawn(names, 1_200_000))
    want = f"0x{ref_xor(SEED, 0, 1_200_000):016x}"
    for name, (rc, doc, err) in res.items():
        assert rc == 0, (name, err[-2000:])
        assert doc["xor"] == want and doc["verified"] and doc["n"] == 12
    # the members derived one order, and each printed the same
    assert len({tuple(doc["members"]) for _, doc, _ in res.values()}) == 1


@pytest.mark.slow
@pytest.mark.parametrize("victim_pos", [1, 0])  # an inner member; the root
def test_member_killed_mid_run_survivors_exact(victim_pos):
    """The victim computes with the pure-Python backend (seconds for its range: sized work, no
    sleep knob); it is killed once the survivor that takes over its range has audited one of its
    published pieces (the taker keeps only pieces it audited itself)."""
    names = ["alpha", "bravo", "charlie", "delta", "echo"]
    total = 40_000_000  # the victim's 8e6 colors take seconds in pure Python, the others' milliseconds
    # position 1 is an inner node with children when k=4; position 0 the root: a real takeover
    victim = Plan.make(SEED, total, names, 4).order[victim_pos]
    procs = _spawn(names, total, extra={victim: ("--backend", "python")})
    logs = {n: _Stderr(p) for n, p in procs.items()}
    logs[victim].wait_for("published records")
    # the taker, by the seed's rule: a dead member's nearest live ancestor, else the lowest live
    # position of its subtree. With 5 members and k=4 the root (0) has children 1..4: the
    # root's range goes to position 1, position 1's to the root.
    order = Plan.make(SEED, total, names, 4).order
    taker = order[1] if victim_pos == 0 else order[0]
    deadline = time.monotonic() + 120
    while not any(f"audit of {victim} piece" in line and line.rstrip().endswith(": ok")
                  for line in list(logs[taker].lines)):
        assert procs[victim].poll() is None and time.monotonic() < deadline, "no audit of the victim's records"
        time.sleep(0.02)
    assert procs[victim].poll() is None, "the victim finished before it was killed"
    procs[victim].send_signal(signal.SIGKILL)
    published = [int(line.split("published records ")[1].split("..")[1].split()[0])
                 for line in list(logs[victim].lines) if "published records" in line]
    assert max(published) < 7, "the victim had published all its 8 pieces before it was killed"
    res = _results({n: p for n, p in procs.items() if n != victim}, watched=logs)
    procs[victim].wait()
    want = f"0x{ref_xor(SEED, 0, total):016x}"
    for name, (rc, doc, err) in res.items():
        assert rc == 0, (name, err[-2000:])
        assert doc["xor"] == want and doc["verified"]
        assert doc["takeovers"] >= 1  # the Final's count: the same on every member
        if doc["taken_over_colors"]:  # a member may hold the Final before it hears of the death
            assert victim in doc["gone"]
    # only what the victim left unpublished (or unaudited) was mined again, by one survivor
    taken = sum(doc["taken_over_colors"] for _, doc, _ in res.values())
    assert 0 < taken < total // len(names), "".join(err for _, _, err in res.values())[-6000:]


@pytest.mark.slow
@pytest.mark.parametrize("liar_pos,mode", [(2, "lie"), (0, "lie"), (1, "lie-sum")])
def test_lying_member_is_named_and_its_range_remined(liar_pos, mode):
    """The liar is tests/nashprop_adversary.py, written from the wire format. lie: commits to
    wrong leaf values (a leaf, audited by its parent; the root, by its children). lie-sum: honest
    records, but a summary (and the part it claims for its own range) XORed with 1: its parent
    checks the summary against its audited records."""
    names = ["ann", "ben", "cat", "dan"]
    total = 4_000_000
    liar = Plan.make(SEED, total, names, 4).order[liar_pos]
    procs = _spawn(names, total, adversary={liar: mode})
    with _adversaries(procs, [liar]) as told:
        res = _results(procs)
    want = f"0x{ref_xor(SEED, 0, total):016x}"
    named_by = {res[n][1]["named_by"].get(liar) for n in res if res[n][1]}
    for name, (rc, doc, err) in res.items():
        assert rc == 0, (name, err[-2000:])
        assert doc["xor"] == want
        assert doc["excluded"] == [liar] and doc["named_by"][liar] in names and doc["named_by"][liar] != liar
        assert liar not in doc["gone"]  # excluded as a liar, not merely gone
    # the liar itself received the accusation, from a member the others name
    assert json.loads(told[liar].splitlines()[0])["named_by"] in named_by


# a member whose wall clock is days off: the protocol reads only monotonic clocks
_OFF_CLOCK = ("import sys, time; _t = time.time; time.time = lambda: _t() + {off}; "
              "import runpy; sys.argv[0] = 'exo-gay'; runpy.run_module('exo_gay', run_name='__main__')")


@pytest.mark.slow
def test_members_with_clocks_days_off_still_agree_exactly():
    names = ["early", "late", "ontime"]
    python = {"early": [sys.executable, "-c", _OFF_CLOCK.format(off=-86400 * 3)],
              "late": [sys.executable, "-c", _OFF_CLOCK.format(off=86400 * 400)]}
    res = _results(_spawn(names, 2_000_000, python=python))
    want = f"0x{ref_xor(SEED, 0, 2_000_000):016x}"
    for name, (rc, doc, err) in res.items():
        assert rc == 0, (name, err[-2000:])
        assert doc["xor"] == want


@pytest.mark.slow
def test_split_network_never_verifies_and_ends_bounded():
    """c reaches nobody (no endpoint, no scouting): no side can cover [0, N) with the given
    member set, so every member exits 1 with the reason, within --wait."""
    names = ["a", "b", "c"]
    t = time.monotonic()
    res = _results(_spawn(names, 300_000, connect={"a": ["b"], "b": ["a"], "c": []},
                          common=("--wait", "3")))
    assert time.monotonic() - t < 60
    for rc, doc, _ in res.values():
        assert rc == 1 and doc["verified"] is False
        assert "never appeared" in doc["reason"]
    assert "c" in res["a"][1]["reason"] and "a, b" in res["c"][1]["reason"]


@pytest.mark.slow
def test_members_from_an_exo_cluster_file(tmp_path):
    ids = ["3f2c9a1e-node-a", "7b41d0c2-node-b"]
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps({"peers": {i: {"address": "127.0.0.1", "port": 50051 + n,
                                                 "device_capabilities": {}} for n, i in enumerate(ids)}}))
    ports = free_ports(2)
    session = secrets.token_hex(6)
    procs = []
    for n, i in enumerate(ids):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "exo_gay", "nashprop", "--cluster", str(cluster), "--me", i,
             "--total", "500000", "--session", session, "--no-scout", "--sync", "0.3", "--threads", "1",
             "--listen", f"tcp/127.0.0.1:{ports[n]}", "--connect", f"tcp/127.0.0.1:{ports[1 - n]}", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        doc = json.loads(out)
        assert sorted(doc["members"]) == sorted(ids)
        assert doc["xor"] == f"0x{ref_xor(SEED, 0, 500_000):016x}"


@pytest.mark.slow
def test_a_second_key_for_a_live_name_is_ignored_and_the_newcomer_exits_1():
    ports = free_ports(3)
    session = secrets.token_hex(6)
    procs = []
    for i, me in enumerate(["a", "b", "a"]):
        # the pure-Python backend: mining takes seconds, so 'a' and 'b' are still running when
        # the second 'a' comes (after the first 'a' published, so both have settled and started)
        cmd = [sys.executable, "-m", "exo_gay", "-v", "nashprop", "--members", "a,b", "--me", me,
               "--total", "20000000", "--session", session, "--no-scout", "--listen", f"tcp/127.0.0.1:{ports[i]}",
               "--wait", "10", "--sync", "0.3", "--threads", "1", "--backend", "python", "--json"]
        cmd += [x for j in range(3) if j != i for x in ("--connect", f"tcp/127.0.0.1:{ports[j]}")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
        if i == 0:
            first = _Stderr(procs[0])
        elif i == 1:
            first.wait_for("published records")
    docs = []
    for p in procs:
        out = p.stdout.read()
        p.wait(timeout=120)
        docs.append(json.loads(out))
    for p in procs[1:]:
        p.stderr.close()
    # a name keeps its first key for the run: the running members ignore the second key and end
    # exact; the newcomer sees two keys for one name while it settles and exits 1, saying why
    want = f"0x{ref_xor(SEED, 0, 20_000_000):016x}"
    assert [p.returncode for p in procs] == [0, 0, 1]
    assert docs[0]["xor"] == want and docs[1]["xor"] == want
    assert docs[2]["verified"] is False and "two members call themselves 'a'" in docs[2]["reason"]


def test_expect_times_out_with_exit_1_and_a_reason(cli):
    t = time.monotonic()
    r = cli("nashprop", "--expect", "3", "--me", "lonely", "--total", "1000", "--no-scout",
            "--session", secrets.token_hex(6), "--wait", "1.5", timeout=60)
    assert r.returncode == 1
    assert "expected 3 members, saw 1" in r.stderr
    assert time.monotonic() - t < 30


def test_bad_input_is_exit_2(cli):
    r = cli("nashprop", "--members", "a,b", "--me", "c", "--total", "100")
    assert r.returncode == 2 and "not one of the members" in r.stderr
    r = cli("nashprop", "--members", "a,b", "--me", "a", "--total", "100", "--connect", "nowhere")
    assert r.returncode == 2 and "endpoint" in r.stderr
    r = cli("nashprop", "--total", "100")
    assert r.returncode == 2 and "the member set is needed" in r.stderr
    r = cli("nashprop", "--locl", "3")
    assert r.returncode == 2 and "did you mean --local?" in r.stderr
    r = cli("nashprop", "--local", "3", "-v")  # logging is the global -v
    assert r.returncode == 2 and "exo-gay -v nashprop" in r.stderr
    r = cli("nashprop", "--members", "a", "--me", "a", "--backend", "pyton")
    assert r.returncode == 2 and "did you mean python?" in r.stderr


def test_a_listen_endpoint_in_use_is_one_line_exit_2(cli):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = cli("nashprop", "--members", "a,b", "--me", "a", "--total", "100", "--no-scout", "--wait", "5",
                "--listen", f"tcp/127.0.0.1:{port}", "--session", secrets.token_hex(6), timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert f"127.0.0.1:{port}" in r.stderr and "zenoh could not open a session" in r.stderr
    assert ".rs:" not in r.stderr  # zenoh's Rust source locations are left out


def test_one_member_text_result_fits_80_columns(cli):
    r = cli("nashprop", "--members", "solo", "--me", "solo", "--total", "1e6", "--no-scout", "--sync", "0.1",
            "--session", secrets.token_hex(6), timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"solo: xor 0x{ref_xor(SEED, 0, 1_000_000):016x} verified"
    assert lines[1].startswith("  over [0, 1M) by 1 member;") and "colors/s" in lines[1]
    assert max(len(line) for line in lines) <= 80


@pytest.mark.slow
def test_multicast_scouting_on_the_seed_port_and_a_late_joiner_refused():
    """Members with no address: multicast scouting on 224.0.0.224:42069 over lo, isolated from
    other runs by the session token. A fourth member arriving after the set settled exits 1."""
    session = secrets.token_hex(6)
    total = 24_000_000  # with the pure-Python backend: seconds of mining, the late one comes meanwhile
    base = [sys.executable, "-m", "exo_gay", "-v", "nashprop", "--seed", str(SEED), "--total", str(total),
            "--expect", "3", "--session", session, "--sync", "0.3", "--wait", "30", "--threads", "1",
            "--backend", "python", "--json"]
    procs = {m: subprocess.Popen(base + ["--me", m], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=ROOT) for m in ("x1", "x2", "x3")}
    logs = {"x1": _Stderr(procs["x1"])}
    logs["x1"].wait_for("published records")  # the set has settled and mining started
    late = subprocess.run(base + ["--me", "x4", "--wait", "10"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    res = _results(procs, watched=logs)
    want = f"0x{ref_xor(SEED, 0, total):016x}"
    for name, (rc, doc, err) in res.items():
        assert rc == 0, (name, err[-2000:])
        assert doc["xor"] == want and doc["members"] and sorted(doc["members"]) == ["x1", "x2", "x3"]
    assert late.returncode == 1
    assert "joined late" in late.stderr or "expected 3 members, saw 4" in late.stderr, late.stderr


@pytest.mark.slow
def test_key_pairs_from_the_cluster_file_close_membership(tmp_path, cli):
    """Each member signs with its own key pair (exo-gay keygen); the cluster file names every
    member's public key; a process with another key pair claiming a member's name is ignored."""
    ids = ["kp-a", "kp-b"]
    pubs = {}
    for i in [*ids, "intruder"]:
        r = cli("keygen", "--out", str(tmp_path / f"{i}.key"))
        assert r.returncode == 0, r.stderr
        pubs[i] = next(w for w in r.stdout.split() if w.startswith("ed25519:"))
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps({"peers": {i: {"address": "127.0.0.1", "port": 50051 + n, "device_capabilities": {},
                                                 "gay": {"public_key": pubs[i]}} for n, i in enumerate(ids)}}))
    ports = free_ports(3)
    session = secrets.token_hex(6)

    def member(n, me, key):
        cmd = [sys.executable, "-m", "exo_gay", "-v", "nashprop", "--cluster", str(cluster), "--me", me,
               "--key-file", str(tmp_path / f"{key}.key"), "--total", "500000", "--session", session, "--no-scout",
               "--sync", "0.3", "--threads", "1", "--wait", "20", "--listen", f"tcp/127.0.0.1:{ports[n]}", "--json"]
        cmd += [x for j in range(3) if j != n for x in ("--connect", f"tcp/127.0.0.1:{ports[j]}")]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)

    # the intruder starts first, as kp-b with its own key: refused at once (its key is not kp-b's)
    bad = subprocess.run(member(2, "kp-b", "intruder").args, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "not the key pair of 'kp-b'" in bad.stderr
    procs = [member(0, "kp-a", "kp-a"), member(1, "kp-b", "kp-b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert json.loads(out)["xor"] == f"0x{ref_xor(SEED, 0, 500_000):016x}"
