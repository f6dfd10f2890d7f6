"""Issue 24's adversaries, each a real process built from mesh.proto and docs/proof.md
(tests/miner_harness.py), against `exo-gay mine` processes; known answers from spi.xor_range.

The statistical side (how often a liar choosing which audits to fail gets a wrong VERIFIED,
against the stated bound, 60+ trials each) is benchmarks/bench_audit.py --part adversary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import test_mesh_faults
from test_mesh_faults import ROOT, exact_beside_a_liar, finish, mine, start_miners, write_bundle

procs = test_mesh_faults.procs  # the fixture: every child a test starts, killed at its end


@pytest.mark.parametrize("behaviour", ["forge-label:7:*", "forge-label:1:*"])
def test_a_forged_xor_label_is_caught_and_all_its_work_redone(procs, tmp_path, behaviour):
    """Honest leaves under forged internal labels, a root consistent with them: the labels are
    bound (issue 24, item 1), so the audited leaves under them do not open."""
    rep, liar = exact_beside_a_liar(procs, tmp_path, behaviour, ("a", "b"), 30_000, 1000)
    assert rep["wrong_miners"] == ["liar"] and liar["chunks"] == 0
    assert next(h for h in rep["hosts"] if h["host"] == "liar")["mined_by_others"] == 10_000


@pytest.mark.parametrize("mode", ["unavailable", "exit", "stall", "garbage"])
def test_a_miner_that_dodges_an_audit_is_convicted_like_a_liar(procs, tmp_path, mode):
    """It fakes leaves and fails every audit that names one (issue 24, item 2): convicted, all
    its answers redone, the result exact."""
    cluster, _ = start_miners(procs, tmp_path, {"a": "honest:0.2", "b": "honest:0.2", "liar": f"dodge:256:{mode}"})
    bundle, ref = write_bundle(tmp_path, ["a", "b", "liar"], 30_000, 1000, expected=False)
    rc, rep = mine(procs, bundle, cluster, "--chunk-deadline", "1")  # the honest take longer than one deadline
    assert rc == 0 and rep["verified"] and int(rep["combined"]["xor"], 16) == ref
    liar = next(m for m in rep["miners"] if m["node_id"] == "liar")
    assert rep["wrong_miners"] == ["liar"] and liar["status"] == "wrong" and liar["audits_failed"] >= 1
    assert "audit" in liar["reason"] or "does not open its commitment" in liar["reason"]
    assert next(h for h in rep["hosts"] if h["host"] == "liar")["mined_by_others"] == 10_000


def test_the_coordinators_name_is_reserved_and_a_duplicated_address_refused(procs, tmp_path, cli):
    bundle, _ = write_bundle(tmp_path, ["a"], 4_000, 1000)
    cluster = tmp_path / "c.json"
    for peers, why in (({"a": 1, "(coordinator)": 2}, "reserved"), ({"a": 1, "b": 1}, "same address")):
        cluster.write_text(json.dumps({"peers": {n: {"address": "127.0.0.1", "port": p} for n, p in peers.items()}}))
        r = cli("mine", "--bundle", bundle, "--cluster", str(cluster), "--replicas", "2")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and why in r.stderr, r.stderr
    r = cli("serve", "--node-id", "(coordinator)", "--port", "0")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "reserved" in r.stderr


# ---------------------------------------------------------------- every run ends, on every Python

PYTHONS = ("3.10.13", "3.11.7", "3.12.1")


def _python(version: str) -> str:
    """A Python of that version with this checkout installed (editable): the test's own when it
    is that version, else a venv built once into the cache (pyenv's interpreter)."""
    import hashlib

    if ".".join(map(str, sys.version_info[:3])) == version:
        return sys.executable
    base = f"/root/.pyenv/versions/{version}/bin/python"
    if not os.path.exists(base):
        pytest.skip(f"Python {version} is not installed (pyenv: {base})")
    key = hashlib.sha256((ROOT + open(os.path.join(ROOT, "pyproject.toml")).read()).encode()).hexdigest()[:12]
    cache = os.environ.get("EXO_GAY_CACHE") or os.path.expanduser("~/.cache/exo-gay")
    venv = os.path.join(cache, "star-python", f"{version}-{key}")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, "ok")):
        subprocess.run([base, "-m", "venv", "--clear", venv], check=True, capture_output=True, timeout=300)
        r = subprocess.run([py, "-m", "pip", "install", "-q", "-e", f"{ROOT}[mine]"], capture_output=True,
                           text=True, timeout=900)
        if r.returncode != 0:
            pytest.skip(f"cannot install this checkout under Python {version}: {r.stderr.strip()[-200:]}")
        open(os.path.join(venv, "ok"), "w").close()
    return py


@pytest.mark.parametrize("version", PYTHONS)
def test_fewer_live_miners_than_replicas_ends_on_every_python(procs, tmp_path, version):
    """2 miners, --replicas 2, one killed mid-run (issue 24, item 3): the coordinator must end,
    exit 1, with the reason, on 3.10, 3.11 and 3.12 (the stop used to hang on 3.11)."""
    py = _python(version)
    cluster, miners = start_miners(procs, tmp_path, {"a": "honest:0.1", "b": "honest:0.1"})
    bundle, _ = write_bundle(tmp_path, ["a", "b"], 40_000, 1000)
    journal = str(tmp_path / "j.jsonl")
    p = subprocess.Popen([py, "-m", "exo_gay", "mine", "--bundle", bundle, "--cluster", cluster, "--json",
                          "--replicas", "2", "--journal", journal], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.all.append(p)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and (not os.path.exists(journal) or open(journal).read().count("\n") < 3):
        time.sleep(0.05)  # two chunks accepted: the run is under way
    miners["b"].kill()
    rc, rep = finish(p, timeout=120)
    assert rc == 1 and not rep["verified"] and rep["failed_miners"] == ["b"]
    assert any("--replicas 2" in x for x in rep["problems"])
