"""Exactness under faults, and proofs, with real processes and sockets.

Miners are `python -m exo_gay serve` processes on 127.0.0.1; the coordinator is
`python -m exo_gay mine` (a process too, so it can be killed).  Faults are real: kill -9,
and the miner's test-only EXO_GAY_TEST_FAULT hook (stall, slow:S, lie:F).  Every expected
value comes from the pure-Python reference (spi.xor_range).  Counts are small and chunks tiny
so each test runs in a few seconds; every wait is bounded; children are always killed.
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

from exo_gay import spi
from exo_gay.bundle import make_bundle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 7202985


class Procs:
    """Every child started by a test, killed at its end whatever happens."""

    def __init__(self):
        self.all: list[subprocess.Popen] = []

    def start(self, args: list[str], fault: str | None = None, **kw) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=ROOT)
        env.pop("EXO_GAY_TEST_FAULT", None)
        if fault:
            env["EXO_GAY_TEST_FAULT"] = fault
        p = subprocess.Popen([sys.executable, "-m", "exo_gay", *args], cwd=ROOT, env=env, text=True,
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
    """Start one miner per node id (with its fault); write an exo cluster file; (path, processes)."""
    started = {}
    for node, fault in specs.items():
        args = ["serve", "--node-id", node, "--port", "0", "--threads", "1"]
        if key_files and key_files.get(node):
            args += ["--key-file", key_files[node]]
        started[node] = procs.start(args, fault=fault)
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
    out, err = p.communicate(timeout=timeout)
    try:
        return p.returncode, json.loads(out)
    except json.JSONDecodeError:
        raise AssertionError(f"rc={p.returncode} stdout={out!r} stderr={err!r}") from None


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
    cluster, miners = start_miners(procs, tmp_path, {"a": "slow:0.04", "b": "slow:0.04", "victim": "slow:0.04"})
    bundle, ref = write_bundle(tmp_path, ["a", "b", "victim"], 120_000, 1000)
    journal = str(tmp_path / "j.jsonl")
    coord = procs.start(["mine", "--bundle", bundle, "--peers", cluster, "--json", "--journal", journal,
                         "--spot-checks", "0"])
    wait_for(lambda: any(e["by"] == ["victim"] for e in journal_accepts(journal)), 30, "victim's first chunk")
    os.kill(miners["victim"].pid, signal.SIGKILL)
    rc, rep = finish(coord)
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref
    victim = next(h for h in rep["hosts"] if h["host"] == "victim")
    assert victim["status"] == "failed" and victim["mined_by_others"] > 0
    assert victim["fingerprint"] == spi.hex64(spi.xor_range(SEED, victim["start"], victim["count"]))
    assert rep["failed_miners"] == ["victim"]


def test_stalled_miner_hits_its_deadline_and_idle_miners_take_its_chunks(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"a": "slow:0.03", "b": "slow:0.03", "staller": "stall"})
    bundle, ref = write_bundle(tmp_path, ["a", "b", "staller"], 90_000, 1000)
    coord = procs.start(["mine", "--bundle", bundle, "--peers", cluster, "--json", "--chunk-deadline", "0.8",
                         "--spot-checks", "0"])
    rc, rep = finish(coord)
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref
    staller = next(m for m in rep["miners"] if m["node_id"] == "staller")
    assert staller["status"] == "failed" and "DEADLINE_EXCEEDED" in staller["reason"] and staller["chunks"] == 0
    assert next(h for h in rep["hosts"] if h["host"] == "staller")["mined_by_others"] == 30_000


def test_coordinator_killed_and_restarted_resumes_from_its_journal(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"a": "slow:0.05", "b": "slow:0.05"})
    bundle, ref = write_bundle(tmp_path, ["a", "b"], 80_000, 1000)
    journal = str(tmp_path / "j.jsonl")
    args = ["mine", "--bundle", bundle, "--peers", cluster, "--json", "--journal", journal, "--spot-checks", "0"]
    first = procs.start(args)
    wait_for(lambda: len(journal_accepts(journal)) >= 10, 30, "10 accepted chunks")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    before = {tuple(e["accept"]) for e in journal_accepts(journal)}
    assert 10 <= len(before) < 80
    rc, rep = finish(procs.start(args))
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref
    assert rep["resumed_colours"] == sum(c for _, c in before)
    events = journal_accepts(journal)
    after = [tuple(e["accept"]) for e in events[len(before):]]
    assert not set(after) & before  # nothing journaled was mined again
    assert len(after) == len(set(after)) and len(before) + len(after) == 80  # nothing lost, nothing twice
    assert sum(m["colours"] for m in rep["miners"]) == 80_000 - rep["resumed_colours"]


def test_late_duplicate_result_is_ignored_never_xored_twice(procs, tmp_path):
    # One chunk.  The helper (not a bundle host) duplicates the slow owner's late chunk and wins;
    # the spot check then asks the slow owner, which is still busy: its original answer lands
    # during the check and must be ignored.
    cluster, _ = start_miners(procs, tmp_path, {"slow": "slow:0.8", "helper": None})
    bundle, ref = write_bundle(tmp_path, ["slow"], 5000, 5000)
    rc, rep = finish(procs.start(["mine", "--bundle", bundle, "--peers", cluster, "--json", "--spot-checks", "1"]))
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref  # an XOR twice would give 0
    assert rep["duplicates_ignored"] == 1
    assert next(m for m in rep["miners"] if m["node_id"] == "slow")["duplicates_ignored"] == 1


# ---------------------------------------------------------------- proofs

def test_spot_checks_catch_a_lying_miner_and_its_work_is_redone(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"a": None, "b": None, "liar": "lie:1.0"})
    bundle, ref = write_bundle(tmp_path, ["a", "b", "liar"], 60_000, 2000, expected=False)
    rc, rep = finish(procs.start(["mine", "--bundle", bundle, "--peers", cluster, "--json", "--spot-checks", "2"]))
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref
    assert rep["wrong_miners"] == ["liar"]
    liar = next(h for h in rep["hosts"] if h["host"] == "liar")
    assert liar["status"] == "wrong" and liar["mined_by_others"] == liar["count"]


def test_replicas_majority_outvotes_a_liar(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"a": None, "b": None, "liar": "lie:0.5"})
    bundle, ref = write_bundle(tmp_path, ["a", "b", "liar"], 30_000, 1000, expected=False)
    rc, rep = finish(procs.start(["mine", "--bundle", bundle, "--peers", cluster, "--json", "--replicas", "3",
                                  "--spot-checks", "0"]))
    assert rc == 0 and rep["verified"] and xor_of(rep) == ref
    assert rep["wrong_miners"] == ["liar"]


def test_without_proofs_a_liar_is_caught_by_expected_xor(procs, tmp_path):
    cluster, _ = start_miners(procs, tmp_path, {"a": None, "liar": "lie:1.0"})
    bundle, ref = write_bundle(tmp_path, ["a", "liar"], 20_000, 1000)
    out = tmp_path / "report.json"
    rc, rep = finish(procs.start(["mine", "--bundle", bundle, "--peers", cluster, "--json", "--spot-checks", "0",
                                  "--out", str(out)]))
    assert rc == 1 and not rep["verified"] and xor_of(rep) != ref
    assert any("expected_xor" in p for p in rep["problems"])
    assert json.loads(out.read_text())["verified"] is False
