"""`exo-gay mine` and `exo-gay serve` as a user runs them: exit statuses, outputs, bad input."""

from __future__ import annotations

import json
import os
import re

import pytest

from exo_gay import spi
from exo_gay.bundle import make_bundle, parse_bundle

SEED = 7202985
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs")


def write(tmp_path, name, obj) -> str:
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


def small_bundle(tmp_path, total=9_000, expected=True, **kw) -> str:
    b = make_bundle(SEED, total, ["causality", "hatchery", "2-monad"], chunk_size=1000,
                    expected_xor=spi.xor_range(SEED, 0, total) if expected else None, **kw)
    return write(tmp_path, "bundle.json", b.to_json())


def test_embedded_default_verifies_and_prints_a_table(cli, tmp_path):
    out = tmp_path / "report.json"
    r = cli("mine", "--bundle", small_bundle(tmp_path), "--out", str(out))
    assert r.returncode == 0, r.stderr
    for word in ("causality", "hatchery", "2-monad", "colors/s", "fingerprint", "expected_xor: MATCH", "VERIFIED"):
        assert word in r.stdout
    rep = json.loads(out.read_text())
    assert rep["verified"] and int(rep["combined"]["xor"], 16) == spi.xor_range(SEED, 0, 9_000)
    for h in rep["hosts"]:
        assert h["fingerprint"] == spi.hex64(spi.xor_range(SEED, h["start"], h["count"]))


def test_json_output_and_a_wrong_expected_xor_exits_1(cli, tmp_path):
    doc = json.loads(open(small_bundle(tmp_path)).read())
    doc["expected_xor"] = "0x1"
    r = cli("mine", "--bundle", write(tmp_path, "wrong.json", doc), "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 1 and rep["expected_matches"] is False and not rep["verified"]
    assert int(rep["combined"]["xor"], 16) == spi.xor_range(SEED, 0, 9_000)


@pytest.mark.slow
def test_the_readmes_first_command_verifies_the_example_bundle(cli):
    """`exo-gay mine --bundle configs/bundle.example.json`: 1e10 colors, audited."""
    b = parse_bundle(json.load(open(os.path.join(ROOT, "configs", "bundle.example.json"))))
    assert b.hosts == ["causality", "hatchery", "2-monad"] and b.expected_xor is not None
    r = cli("mine", "--bundle", "configs/bundle.example.json", "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 0 and rep["verified"] and rep["expected_matches"]
    assert rep["combined"]["count"] == b.total == 10 ** 10


BAD_BUNDLES = {
    "malformed": '{"seed": 1, "ranges": [',
    "unknown key": {"seed": 1, "ranges": [{"host": "a", "start": 0, "count": 5, "polarity": 0}], "total": 5,
                    "surprise": 1},
    "out of range": {"seed": 2 ** 64, "ranges": [{"host": "a", "start": 0, "count": 5, "polarity": 0}], "total": 5},
    "overlap": {"seed": 1, "ranges": [{"host": "a", "start": 0, "count": 5, "polarity": 0},
                                      {"host": "b", "start": 3, "count": 5, "polarity": 1}], "total": 10},
}


@pytest.mark.parametrize("name", sorted(BAD_BUNDLES))
def test_bad_bundles_exit_2_and_nothing_is_done(cli, tmp_path, name):
    bundle = write(tmp_path, "b.json", BAD_BUNDLES[name])
    out, journal = tmp_path / "out.json", tmp_path / "j.jsonl"
    r = cli("mine", "--bundle", bundle, "--out", str(out), "--journal", str(journal))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stdout == ""
    assert not out.exists() and not journal.exists()


def test_other_bad_input_exits_2(cli, tmp_path):
    bundle = small_bundle(tmp_path)
    out, journal = tmp_path / "out.json", tmp_path / "j.jsonl"
    cluster = write(tmp_path, "cluster.json", {"peers": {"causality": {"address": "127.0.0.1", "port": 1}}})
    cases = [
        ["--bundle", str(tmp_path / "absent.json")],
        ["--bundle", bundle, "--cluster", cluster],  # hatchery, 2-monad not among the peers
        ["--bundle", bundle, "--cluster", str(tmp_path / "absent.json")],
        ["--bundle", bundle, "--cluster", write(tmp_path, "bad-cluster.json", {"nodes": []})],
        ["--bundle", bundle, "--replicas", "4"],
        ["--bundle", bundle, "--replicas", "0"],
        ["--bundle", bundle, "--audits", "-1"],
        ["--bundle", bundle, "--audits", "257"],
        ["--bundle", bundle, "--chunk-size", "0"],
        ["--bundle", bundle, "--out", str(tmp_path / "no" / "such" / "dir.json")],
    ]
    for args in cases:
        r = cli("mine", *args, "--journal", str(journal)) if "--out" in args else \
            cli("mine", *args, "--out", str(out), "--journal", str(journal))
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (args, r.stderr)
        assert not out.exists() and not journal.exists(), args


def test_a_journal_of_another_bundle_is_refused(cli, tmp_path):
    from exo_gay.mesh.journal import Journal

    journal = tmp_path / "j.jsonl"
    Journal(str(journal), "0" * 64, 1000).close()
    r = cli("mine", "--bundle", small_bundle(tmp_path), "--journal", str(journal))
    assert r.returncode == 2 and "another bundle" in r.stderr


def test_serve_refuses_bad_input(cli):
    for args in (["--node-id", "x", "--port", "70000"], ["--node-id", " ", "--port", "0"],
                 ["--node-id", "x", "--port", "0", "--backend", "nonesuch"]):
        r = cli("serve", *args, timeout=30)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (args, r.stderr)


def test_the_loopback_cluster_file_names_the_example_bundles_hosts():
    from exo_gay.mesh.peers import load_cluster

    peers = load_cluster(os.path.join(ROOT, "configs", "cluster.loopback.json"))
    b = parse_bundle(json.load(open(os.path.join(ROOT, "configs", "bundle.example.json"))))
    assert [p.node_id for p in peers] == b.hosts
    assert all(p.address.startswith("127.0.0.1:") for p in peers)


def test_a_chunk_size_that_makes_too_many_chunks_is_refused(cli, tmp_path):
    r = cli("mine", "--bundle", small_bundle(tmp_path, total=300_000, expected=False), "--chunk-size", "1")
    assert r.returncode == 2 and "chunks (at most" in r.stderr


def test_a_non_journal_file_is_never_overwritten(cli, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes\nline two\n")
    r = cli("mine", "--bundle", small_bundle(tmp_path), "--journal", str(notes))
    assert r.returncode == 2 and "not an exo-gay journal" in r.stderr
    assert notes.read_text() == "my precious notes\nline two\n"


def test_a_journal_credited_to_a_stranger_or_junk_is_one_line_exit_2(cli, tmp_path):
    bundle = small_bundle(tmp_path)
    doc = json.loads(open(bundle).read())
    from exo_gay.bundle import parse_bundle as pb

    head = json.dumps({"journal": 2, "bundle_hash": pb(doc).hash, "chunk_size": 1000})
    for line in (json.dumps({"accept": [0, 1000], "value": '"0x1"', "by": ["mallory"]}), "[" * 200_000,
                 json.dumps({"accept": [0, 999], "value": '"0x1"', "by": ["causality"]}),
                 '{"accept": [0, 1000], "value": ', '{"accept": [0, ' + "9" * 5000 + '], "by": ["causality"]}'):
        journal = tmp_path / "j.jsonl"
        journal.write_text(f"{head}\n{line}\n")
        before = journal.read_text()
        r = cli("mine", "--bundle", bundle, "--journal", str(journal))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith("exo-gay mine: error: ") and journal.read_text() == before
        r = cli("bundle", "check", str(journal))  # a journal is no bundle: one line too
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


HOSTILE_JSON = {
    "200000-deep": ("[" * 200_000 + "]" * 200_000, "nested deeper than"),
    "200000-deep inside": ('{"seed": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested deeper than"),
    "5000-digit integer": ('{"seed": ' + "9" * 5000 + ', "total": 5, "ranges": '
                           '[{"host": "a", "start": 0, "count": 5, "polarity": 0}]}', "5000 digits"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_JSON))
def test_hostile_bundles_are_one_line_exit_2_for_mine_and_bundle_check(cli, tmp_path, name):
    text, reason = HOSTILE_JSON[name]
    bundle, out, journal = write(tmp_path, "b.json", text), tmp_path / "out.json", tmp_path / "j.jsonl"
    for args in (["mine", "--bundle", bundle, "--out", str(out), "--journal", str(journal)],
                 ["bundle", "check", bundle]):
        r = cli(*args)
        prefix = "exo-gay mine: error: " if args[0] == "mine" else "exo-gay bundle check: error: "
        assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr[-500:]
        assert r.stderr.startswith(prefix) and reason in r.stderr
    assert not out.exists() and not journal.exists()


def test_unreachable_miners_end_the_run_with_a_hint(cli, tmp_path):
    import socket

    ports = []
    for _ in range(3):  # ports nobody listens on: bound, then closed
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    cluster = write(tmp_path, "c.json", {"peers": {h: {"address": "127.0.0.1", "port": port} for h, port in
                                                   zip(("causality", "hatchery", "2-monad"), ports, strict=True)}})
    r = cli("mine", "--bundle", small_bundle(tmp_path), "--cluster", cluster, "--wait-peers", "0")
    assert r.returncode == 1 and r.stdout.splitlines()[-1] == "NOT VERIFIED"
    assert r.stdout.startswith("nothing mined: no miner answered (3 tried)")
    for h, port in zip(("causality", "hatchery", "2-monad"), ports, strict=True):
        assert re.search(rf"^  {h} +127\.0\.0\.1:{port}  connection refused$", r.stdout, re.M), r.stdout
    assert f"exo-gay serve --node-id causality --port {ports[0]} &" in r.stdout
    assert "the miners' word" not in r.stdout and len(r.stdout.splitlines()) <= 8
    assert max(len(line) for line in r.stdout.splitlines()) <= 80


def test_mine_before_serve_on_a_terminal_says_what_it_waits_for_and_shows_no_frozen_bar(tmp_path):
    cluster = os.path.join(CONFIGS, "cluster.loopback.json")  # nobody serves its ports in the tests
    rc, lines = _on_a_terminal("mine", "--bundle", small_bundle(tmp_path), "--cluster", cluster,
                               "--wait-peers", "1")
    out = "\n".join(lines)
    assert rc == 1 and "waiting up to 1 s for 3 peer(s)" in out and "causality at 127.0.0.1:42069" in out
    assert "0/9K" not in out and "0%" not in out  # no progress bar before anything is mined
    assert max(len(line) for line in lines if "waiting up to" not in line) <= 80, out


def test_a_key_file_must_look_like_one(cli, tmp_path):
    for path in (os.path.join(ROOT, "README.md"), os.path.join(CONFIGS, "bundle.example.json")):
        r = cli("mine", "--bundle", small_bundle(tmp_path), "--key-file", path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a key file" in r.stderr
        r = cli("serve", "--node-id", "x", "--port", "0", "--key-file", path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a key file" in r.stderr


def test_a_finished_run_whose_out_cannot_be_written_still_prints_its_report_and_keeps_its_journal(cli, tmp_path):
    journal = tmp_path / "run.journal"
    r = cli("mine", "--bundle", small_bundle(tmp_path), "--out", "/proc/report.json", "--journal", str(journal))
    assert r.returncode == 2 and r.stdout.splitlines()[-1] == "VERIFIED"
    assert r.stderr.count("\n") == 1 and "--out /proc/report.json" in r.stderr and "journal kept" in r.stderr
    assert journal.read_text().count("\n") == 1 + 9  # the header and 9 accepted chunks


@pytest.mark.parametrize("command", ["serve", "mine", "keygen"])
def test_help_describes_the_command_and_its_examples_need_no_file_an_earlier_step_did_not_make(cli, command):
    r = cli(command, "--help", env={**os.environ, "COLUMNS": "80"})
    usage, description = r.stdout.split("\n\n")[:2]
    assert usage.startswith("usage:") and len(description.split()) >= 8 and not description.lstrip().startswith("-")
    made = {"configs/bundle.example.json", "configs/cluster.loopback.json"}
    examples = r.stdout.split("examples:")[1]
    for line in examples.splitlines():
        words = line.split()
        if "--out" in words:
            made.add(words[words.index("--out") + 1])
        for flag in ("--bundle", "--key-file", "--cluster", "--journal"):
            if flag in words and flag != "--journal":
                assert words[words.index(flag) + 1] in made, (flag, line)


@pytest.mark.parametrize("command", ["serve", "mine", "keygen"])
def test_help_has_examples_and_fits_80_columns(cli, command):
    r = cli(command, "--help", env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0 and "examples:\n  exo-gay " + command in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    if command != "keygen":
        assert "--cluster CLUSTER.json" in r.stdout and "--peers is the old name" in " ".join(r.stdout.split())


def _on_a_terminal(*args: str) -> tuple[int, list[str]]:
    """Run the CLI with stdout and stderr on one 80-column pseudo-terminal (the standard library's
    pty.spawn copies it out); (status, the lines a person sees: escapes removed, a line redrawn
    with carriage returns as it ends)."""
    import re
    import subprocess
    import sys

    spawn = "import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))"
    r = subprocess.run([sys.executable, "-c", spawn, sys.executable, "-m", "exo_gay", *args], capture_output=True,
                       stdin=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, "COLUMNS": "80", "TERM": "xterm"},
                       timeout=120)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", r.stdout.decode(errors="replace"))
    return r.returncode, [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]


def test_progress_and_table_in_human_counts_and_seed_in_decimal_within_80_columns(tmp_path):
    seed = 0x6761795F636F6C6F
    b = make_bundle(seed, 3_000_000, ["causality", "hatchery", "2-monad"], chunk_size=250_000,
                    expected_xor=spi.xor_range(seed, 0, 3_000_000))
    rc, lines = _on_a_terminal("mine", "--bundle", write(tmp_path, "b.json", b.to_json()))
    out = "\n".join(lines)
    assert rc == 0, out
    assert "3M/3M" in out and "colors/s" in out and "colour" not in out
    assert f"seed {seed}" in out and hex(seed) not in out.lower()
    assert sum(" 1M " in line for line in lines) == 3 and "over 3M of 3M colors" in out
    assert spi.hex64(spi.xor_range(seed, 0, 1_000_000)) in out and "VERIFIED" in out
    assert max(len(line) for line in lines) <= 80, out


def test_a_conviction_is_journaled_and_a_restart_does_not_trust_the_liar_again(tmp_path):
    from miner_harness import run

    from exo_gay.mesh.coordinator import mine_bundle
    from exo_gay.mesh.journal import Journal

    b = make_bundle(SEED, 6_000, ["a", "b"], chunk_size=1000, expected_xor=spi.xor_range(SEED, 0, 6_000))
    path = str(tmp_path / "j.jsonl")
    j = Journal(path, b.hash, 1000)
    j.accepted(0, 1000, '"0x1"', ("a",))  # a lied here, and was convicted
    j.convicted("a", "leaf 1 differs")
    j.close()
    rep = run(mine_bundle(b, journal_path=path))
    assert rep.verified and rep.expected_matches and rep.wrong_miners == ["a"]
    assert rep.hosts[0].mined_by_others == 3000  # nothing of a's counts, the old lie included


def test_out_over_the_journals_seal_is_refused_before_any_work(cli, tmp_path):
    journal = tmp_path / "run.journal"
    r = cli("mine", "--bundle", small_bundle(tmp_path), "--journal", str(journal), "--out", f"{journal}.seal")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "seal" in r.stderr
    assert not journal.exists() and not os.path.exists(f"{journal}.seal")


def test_out_equal_to_a_journal_not_yet_written_is_refused_before_any_work(cli, tmp_path):
    # the journal does not exist before the run: the same path must still be refused up front
    journal = tmp_path / "run.journal"
    r = cli("mine", "--bundle", small_bundle(tmp_path), "--journal", str(journal), "--out", str(journal))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--journal" in r.stderr
    assert not journal.exists() and not os.path.exists(f"{journal}.seal")
