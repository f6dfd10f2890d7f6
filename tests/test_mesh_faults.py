"""Exactness under faults and lies, with real processes and sockets.

Honest miners are `python -m exo_gay serve` processes on 127.0.0.1; adversaries are
tests/miner_harness.py processes built from mesh.proto alone; the coordinator is
`python -m exo_gay mine` (a process too, so it can be killed).  Every expected value comes
from the pure-Python reference (spi.xor_range).  Counts are small and chunks tiny; every wait
is bounded; children are always killed.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest
from netutil import free_ports

from exo_gay import spi
from exo_gay.bundle import make_bundle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 7202985
HARNESS = os.path.join(ROOT, "tests", "miner_harness.py")


class Procs:
    """Every child started by a test, killed at its end whatever happens."""

    def __init__(self):
        self.all: list[subprocess.Popen] = []

    def start(self, args: list[str], adversary: str | None = None, **kw) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=ROOT)
        cmd = [sys.executable, HARNESS, *args, "--behaviour", adversary] if adversary else \
            [sys.executable, "-m", "exo_gay", *args]
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        self.all.append(p)
        return p

    def kill_all(self):
        for p in self.all:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)


@pytest.fixture
def procs():
    ps = Procs()
    try:
        yield ps
    finally:
        ps.kill_all()


def read_port(p: subprocess.Popen, timeout: float = 30.0) -> int:
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    assert ready, f"miner did not start in {timeout} s"
    line = p.stdout.readline()
    m = re.match(r"listening 127\.0\.0\.1:(\d+) ", line)
    assert m, f"unexpected first line {line!r}; stderr: {p.stderr.read() if p.poll() is not None else ''}"
    return int(m.group(1))


def start_miners(procs: Procs, tmp_path, specs: dict[str, str | None], key_files: dict[str, str] | None = None
                 ) -> tuple[str, dict[str, subprocess.Popen]]:
    """Start one miner per node id: `exo-gay serve` for None, else an adversary with that
    behaviour; write an exo cluster file; (path, processes)."""
    started = {}
    for node, adversary in specs.items():
        args = ["serve", "--node-id", node, "--port", "0", "--threads", "1"] if adversary is None else \
            ["--node-id", node]
        if key_files and key_files.get(node):
            args += ["--key-file", key_files[node]]
        started[node] = procs.start(args, adversary=adversary)
    peers = {node: {"address": "127.0.0.1", "port": read_port(p),
                    "device_capabilities": {"model": "test", "chip": "cpu", "memory": 1024,
                                            "flops": {"fp32": 0, "fp16": 0, "int8": 0}}}
             for node, p in started.items()}
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"peers": peers}))
    return str(path), started


def write_bundle(tmp_path, hosts, total, chunk, expected=True, name="bundle.json") -> tuple[str, int]:
    ref = spi.xor_range(SEED, 0, total)  # the known answer, from the reference
    b = make_bundle(SEED, total, hosts, chunk_size=chunk, expected_xor=ref if expected else None)
    path = tmp_path / name
    path.write_text(json.dumps(b.to_json()))
    return str(path), ref


def finish(p: subprocess.Popen, timeout: float = 60.0) -> tuple[int, dict]:
    """A `mine --json` process's (exit status, report); never a traceback on its stderr."""
    out, err = p.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    try:
        return p.returncode, json.loads(out)
    except json.JSONDecodeError:
        raise AssertionError(f"rc={p.returncode} stdout={out!r} stderr={err!r}") from None


def mine(procs: Procs, bundle: str, cluster: str, *args: str, timeout: float = 60.0) -> tuple[int, dict]:
    """`exo-gay mine --bundle BUNDLE --cluster CLUSTER --json ARGS` to its end: (exit status, report)."""
    return finish(procs.start(["mine", "--bundle", bundle, "--cluster", cluster, "--json", *args]), timeout)


def journal_accepts(path) -> list[dict]:
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path).read().split("\n")[1:]:
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "accept" in ev:
            out.append(ev)
    return out


def wait_for(cond, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def xor_of(report: dict) -> int:
    return int(report["combined"]["xor"], 16)


# ---------------------------------------------------------------- faults

def test_miner_killed_mid_range_its_chunks_go_to_live_miners(procs, tmp_path):
    cluster, miners = start_miners(procs, tmp_path, {"a": "honest:0.04", "b": "honest:0.04", "victim": "honest:0.04"})
    bundle, ref = write_bundle(tmp_path, ["a", "b", "victim"], 60_000, 1000)
    journal = str(tmp_path / "j.jsonl")
    coord = procs.start(["mine", "--bundle", bundle, "--cluster", cluster, "--json", "--journal", journal])
    wait_for(lambda: any(e["by"] == ["victim"] for e in journal_accepts(journal)), 30, "victim's first chunk")
    os.kill(miners["victim"].pid, signal.SIGKILL)
    rc, rep = finish(coord)
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref
    victim = next(h for h in rep["hosts"] if h["host"] == "victim")
    # the kill may land before or after the victim's last chunk: only "some" is certain
    assert victim["fingerprint"] == spi.hex64(spi.xor_range(SEED, victim["start"], victim["count"]))
    if victim["status"] == "failed":
        assert victim["mined_by_others"] > 0 and rep["failed_miners"] == ["victim"]


def test_coordinator_killed_and_restarted_resumes_from_its_journal(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"a": "honest:0.05", "b": "honest:0.05"})
    bundle, ref = write_bundle(tmp_path, ["a", "b"], 60_000, 1000)
    journal = str(tmp_path / "j.jsonl")
    args = ["mine", "--bundle", bundle, "--cluster", cluster, "--json", "--journal", journal]
    first = procs.start(args)
    wait_for(lambda: len(journal_accepts(journal)) >= 10, 30, "10 accepted chunks")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    before = {tuple(e["accept"]) for e in journal_accepts(journal)}
    assert 10 <= len(before) < 60
    rc, rep = finish(procs.start(args))
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref
    assert rep["resumed_colors"] == sum(c for _, c in before)
    after = [tuple(e["accept"]) for e in journal_accepts(journal)[len(before):]]
    assert not set(after) & before  # nothing journaled was mined again
    assert len(after) == len(set(after)) and len(before) + len(after) == 60  # nothing lost, nothing twice


def exact_beside_a_liar(procs, tmp_path, behaviour: str, honest: tuple[str, ...], total: int, chunk: int,
                        *mine_args: str) -> tuple[dict, dict]:
    """`mine` on honest `serve` miners and one adversary; asserts the exact result; (report, liar's row)."""
    cluster, _ = start_miners(procs, tmp_path, {**{h: None for h in honest}, "liar": behaviour})
    bundle, ref = write_bundle(tmp_path, [*honest, "liar"], total, chunk, expected=False)
    rc, rep = mine(procs, bundle, cluster, *mine_args)
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref
    return rep, next(m for m in rep["miners"] if m["node_id"] == "liar")


def test_a_lie_then_a_stall_before_the_audit_is_discarded_and_redone(procs, tmp_path):
    rep, liar = exact_beside_a_liar(procs, tmp_path, "no-audit", ("a", "b"), 30_000, 1000, "--chunk-deadline", "1")
    # the others may finish everything before its audit times out (then it is still "ok"); a
    # missed audit convicts it: either way none of its answers counts
    assert liar["chunks"] == 0 and liar["status"] in ("ok", "wrong") and liar["audits_passed"] == 0
    assert next(h for h in rep["hosts"] if h["host"] == "liar")["mined_by_others"] == 10_000


@pytest.mark.parametrize("behaviour", ["lie-then-stall:1", "lie-then-exit:1", "lie-chunks:3", "bad-path"])
def test_a_liar_is_caught_by_its_audit_and_all_its_work_redone(procs, tmp_path, behaviour):
    rep, _ = exact_beside_a_liar(procs, tmp_path, behaviour, ("a", "b"), 30_000, 1000)
    assert rep["wrong_miners"] == ["liar"] and rep["failed_miners"] == []
    liar = next(h for h in rep["hosts"] if h["host"] == "liar")
    assert liar["status"] == "wrong" and liar["mined_by_others"] == liar["count"]


def test_a_liar_on_its_own_range_only_is_caught(procs, tmp_path):
    rep, _ = exact_beside_a_liar(procs, tmp_path, "lie-own:10000:20000", ("a",), 20_000, 1000)
    assert rep["wrong_miners"] == ["liar"]


def test_two_colluders_are_caught_by_their_audits_never_the_honest(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"h1": None, "h2": None, "c1": "lie-chunks:1000",
                                                "c2": "lie-chunks:1000"})
    bundle, ref = write_bundle(tmp_path, ["h1", "h2", "c1", "c2"], 40_000, 1000, expected=False)
    rc, rep = mine(procs, bundle, cluster, "--replicas", "2")
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref  # the colluders agree with each other: no matter
    assert sorted(rep["wrong_miners"]) == ["c1", "c2"]


def test_replicas_3_with_two_colluders_of_three_ends_and_never_names_the_honest(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"honest": None, "c1": "lie-chunks:1000", "c2": "lie-chunks:1000"})
    bundle, _ = write_bundle(tmp_path, ["honest", "c1", "c2"], 30_000, 1000, expected=False)
    rc, rep = mine(procs, bundle, cluster, "--replicas", "3")
    assert rc == 1 and any("--replicas 3" in p for p in rep["problems"])
    assert rep["wrong_miners"] and set(rep["wrong_miners"]) <= {"c1", "c2"}
    assert next(m for m in rep["miners"] if m["node_id"] == "honest")["status"] == "ok"


@pytest.mark.parametrize("behaviour", ["malformed:deep", "malformed:huge", "malformed:int", "malformed:root",
                                       "foreign", "wrong-node"])
def test_malformed_foreign_or_impostor_answers_fail_the_miner_never_a_traceback(procs, tmp_path, behaviour):
    cluster, _ = start_miners(procs, tmp_path, {"a": None, "bad": behaviour})
    bundle, ref = write_bundle(tmp_path, ["a", "bad"], 10_000, 1000, expected=False)
    rc, rep = mine(procs, bundle, cluster)  # finish() checks: no traceback
    assert rc == 0 and xor_of(rep) == ref
    assert rep["failed_miners"] == ["bad"] and rep["wrong_miners"] == []


def test_a_staller_claiming_a_tiny_rate_does_not_hold_the_run(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"a": None, "staller": "stall"})
    bundle, ref = write_bundle(tmp_path, ["a", "staller"], 4_000, 1000)
    rc, rep = mine(procs, bundle, cluster, timeout=120)
    assert rc == 0 and xor_of(rep) == ref
    staller = next(m for m in rep["miners"] if m["node_id"] == "staller")
    # its deadline comes from the coordinator's own rate; idle miners take its late chunks before that
    assert staller["chunks"] == 0 and next(h for h in rep["hosts"] if h["host"] == "staller")["mined_by_others"] == 2000


def test_replicas_with_too_few_live_miners_end_with_the_reason(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"a": None})
    doc = json.loads(open(cluster).read())
    doc["peers"]["gone"] = {"address": "127.0.0.1", "port": 1}  # nothing listens there
    open(cluster, "w").write(json.dumps(doc))
    bundle, _ = write_bundle(tmp_path, ["a"], 4_000, 1000)
    rc, rep = mine(procs, bundle, cluster, "--replicas", "2", "--wait-peers", "1")
    assert rc == 1 and not rep["verified"] and rep["failed_miners"] == ["gone"]
    assert any("--replicas 2" in p for p in rep["problems"])


def test_mine_waits_for_peers_still_starting(procs, tmp_path):
    (port,) = free_ports(1)
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps({"peers": {"late": {"address": "127.0.0.1", "port": port}}}))
    bundle, ref = write_bundle(tmp_path, ["late"], 4_000, 1000)
    coord = procs.start(["mine", "--bundle", bundle, "--cluster", str(cluster), "--json", "--wait-peers", "60"])
    time.sleep(1.0)
    procs.start(["serve", "--node-id", "late", "--port", str(port), "--threads", "1"])
    rc, rep = finish(coord)
    assert rc == 0 and xor_of(rep) == ref


def test_serve_refuses_a_port_in_use(procs):
    first = procs.start(["serve", "--node-id", "x", "--port", "0", "--threads", "1"])
    port = read_port(first)
    second = procs.start(["serve", "--node-id", "y", "--port", str(port), "--threads", "1"])
    out, err = second.communicate(timeout=60)
    assert second.returncode == 2 and err.count("\n") == 1 and "in use" in err


@pytest.mark.slow
def test_a_game_liar_is_caught_by_its_leaf_audits(procs, tmp_path):
    from exo_gay.registry import get_reduction
    from exo_gay.runner import reduce_range

    # the honest one is slowed down, so the liar answers before the honest one could finish alone
    cluster, _ = start_miners(procs, tmp_path, {"a": "honest:0.6", "liar": "lie-chunks:1000"})
    b = make_bundle(SEED, 20_000, ["a", "liar"], chunk_size=2000, game="furthest")
    path = tmp_path / "game.json"
    path.write_text(json.dumps(b.to_json()))
    rc, rep = mine(procs, str(path), cluster)
    red = get_reduction("furthest")
    want = red.to_wire(reduce_range(SEED, 0, 20_000, reduction=red, threads=1, backend="python"))
    assert rc == 0 and rep["verified"] and rep["combined"]["value"] == want
    assert rep["wrong_miners"] == ["liar"]


def test_a_subtle_liar_with_replicas_is_settled_by_recomputation_not_by_a_vote(procs, tmp_path):
    # about one faked leaf per chunk: audits alone would mostly miss it; an honest replica disagrees,
    # the coordinator recomputes the chunk itself and convicts the liar only
    rep, liar = exact_beside_a_liar(procs, tmp_path, "lie-leaves:0.004", ("h1", "h2"), 60_000, 2000, "--replicas", "2")
    assert rep["wrong_miners"] == ["liar"] and rep["disputes"] + liar["audits_failed"] >= 1
    assert all(m["status"] == "ok" for m in rep["miners"] if m["node_id"] != "liar")


def test_when_every_miner_stalls_the_run_ends_with_exit_1_and_the_reason(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"s1": "stall", "s2": "stall"})
    bundle, _ = write_bundle(tmp_path, ["s1", "s2"], 4_000, 1000)
    rc, rep = mine(procs, bundle, cluster, "--chunk-deadline", "1")
    assert rc == 1 and not rep["verified"] and sorted(rep["failed_miners"]) == ["s1", "s2"]
    assert any("no live miner left" in p for p in rep["problems"])
