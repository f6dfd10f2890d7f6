"""NashProp against hostile members and outsiders (tests/nashprop_adversary.py, written from
docs/nashprop.md's wire format): a forged Final, injected Owns, a forged signature, a dead
member's name re-claimed with a new key, and a flood. No honest member may print a wrong value
as verified, and none may run past --timeout by more than 15 s. All on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from nashprop_adversary import ref_xor
from test_nashprop import SEED, _adversaries, _results, _spawn, _Stderr

from exo_gay.nashprop.plan import Plan

pytestmark = pytest.mark.slow


def _check_honest(res, want, t0, timeout=120):
    assert time.monotonic() - t0 < timeout + 15 + 30  # the runs' own bound, plus start-up
    for name, (rc, doc, err) in res.items():
        assert "Traceback" not in err, (name, err[-3000:])
        assert doc is not None, (name, err[-2000:])
        if doc["verified"]:
            assert doc["xor"] == want, (name, doc)
        assert rc == 0, (name, err[-2000:])


@pytest.mark.parametrize("with_key", [False, True])
def test_forged_final_injected_own_and_forged_signature_change_nothing(with_key, tmp_path):
    """The attacker is a member (with the shared key, when the run has one): a leaf with honest
    records and summary, so the run can finish, that also sends every attack."""
    names = ["ann", "ben", "cat", "dan", "eve"]
    total = 5_000_000
    order = Plan.make(SEED, total, names, 4).order
    eve = order[2]
    key = ()
    if with_key:
        (tmp_path / "run.key").write_text(os.urandom(32).hex())
        key = ("--key-file", str(tmp_path / "run.key"))
    t0 = time.monotonic()
    procs = _spawn(names, total, adversary={eve: "honest"}, common=key,
                   attacks={eve: ("--forge-final", "--inject-own", "--forge-sig", *key)})
    with _adversaries(procs, [eve]):
        res = _results(procs)
    _check_honest(res, f"0x{ref_xor(SEED, 0, total):016x}", t0)
    for _, doc, _err in res.values():
        assert doc["acting_root"] == order[0] and doc["checked_chain"] >= 1
    assert any("refused a Final" in err for _, _, err in res.values())


def test_dead_members_name_reclaimed_and_owns_injected_after_a_kill():
    """Fan-out 2 over 5 members: position 1 is inner (its child, position 2, is promoted and
    needs position 1's own XOR from the miner, position 0, as an Own with its evidence). The
    victim is killed once its first piece was audited; an outsider then claims its name with a
    new key and sends Finals and Owns signed with it; a member keeps injecting wrong Owns."""
    names = ["alpha", "bravo", "charlie", "delta", "echo", "mallory"]
    members = names[:5]
    total = 40_000_000
    order = Plan.make(SEED, total, members, 2).order
    victim, liar = order[1], order[4]
    procs = _spawn(names, total, extra={victim: ("--backend", "python")}, common=("--fan-out", "2"),
                   adversary={liar: "honest", "mallory": "outsider"}, outsiders=("mallory",),
                   attacks={liar: ("--inject-own", "--fan-out", "2"),
                            "mallory": ("--reclaim", victim, "--forge-final", "--inject-own")})
    t0 = time.monotonic()
    advs = {n: procs.pop(n) for n in (liar, "mallory")}
    logs = {n: _Stderr(p) for n, p in procs.items()}
    logs[victim].wait_for("published records")
    deadline = time.monotonic() + 120
    while not any(f"audit of {victim} piece" in line and line.rstrip().endswith(": ok")
                  for n in members if n not in (victim, liar) for line in list(logs[n].lines)):
        assert procs[victim].poll() is None and time.monotonic() < deadline, "no audit of the victim's records"
        time.sleep(0.02)
    procs[victim].send_signal(signal.SIGKILL)
    try:
        res = _results({n: p for n, p in procs.items() if n != victim}, watched=logs)
    finally:
        procs[victim].wait()
        for p in advs.values():
            p.terminate()
        told, _ = advs["mallory"].communicate(timeout=30)
        advs[liar].communicate(timeout=30)
    assert json.loads(told.splitlines()[0]) == {"reclaimed": victim}
    _check_honest(res, f"0x{ref_xor(SEED, 0, total):016x}", t0)
    assert any(victim in doc["gone"] for _, doc, _ in res.values())
    errs = "".join(err for _, _, err in res.values())
    assert "ignored a second key" in errs or "refused" in errs


def test_flood_from_an_outsider_and_a_member_ends_exact_within_the_bound():
    names = ["fa", "fb", "fc", "fd", "flood"]
    members = names[:4]
    total = 4_000_000
    order = Plan.make(SEED, total, members, 4).order
    loud = order[3]  # a leaf member that also floods
    t0 = time.monotonic()
    procs = _spawn(names, total, adversary={"flood": "outsider", loud: "honest"}, outsiders=("flood",),
                   common=("--timeout", "60"),
                   attacks={"flood": ("--flood", "1000000:5"), loud: ("--flood", "100000:20")})
    with _adversaries(procs, ("flood", loud)):
        res = _results(procs)
    _check_honest(res, f"0x{ref_xor(SEED, 0, total):016x}", t0, timeout=60)


def test_a_forged_final_from_the_acting_root_itself_is_refused():
    """The attacker holds position 0 (the acting root) and signs Finals of wrong XORs with a
    whole-tree summary that adds up by claiming every other position as its own part. It never
    aggregates honestly, so the run cannot finish: every honest member must refuse the Final
    (those positions are live) and exit 1 at --timeout, saying why, not print the value."""
    names = ["ann", "ben", "cat", "dan"]
    total = 4_000_000
    order = Plan.make(SEED, total, names, 4).order
    root = order[0]
    t0 = time.monotonic()
    procs = _spawn(names, total, adversary={root: "honest"}, common=("--timeout", "20"),
                   attacks={root: ("--forge-final",)})
    with _adversaries(procs, [root]):
        res = _results(procs)
    assert time.monotonic() - t0 < 20 + 15 + 30
    for name, (rc, doc, err) in res.items():
        assert "Traceback" not in err
        assert rc == 1 and doc["verified"] is False, (name, doc)
        assert "no verified result within 20s" in doc["reason"]
    assert any("live as I see it" in err for _, _, err in res.values())
