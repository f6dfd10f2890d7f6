"""Seed bundles: validation with places, making (even, weighted), NashProp, and the CLI."""

from __future__ import annotations

import json
import os
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exo_gay import spi
from exo_gay.bundle import (
    even_counts,
    make_bundle,
    nashprop_bundle,
    nashprop_order,
    parse_bundle,
    validate,
    weighted_counts,
    weights_from_doc,
)

SEED_DOC = {"seed": 7202985,
            "ranges": [{"host": "causality", "start": 0, "count": 500000000, "polarity": 0},
                       {"host": "hatchery", "start": 500000000, "count": 500000000, "polarity": 1},
                       {"host": "2-monad", "start": 1000000000, "count": 500000000, "polarity": 2}],
            "total": 1500000000, "expected_xor": None}


def problems_of(doc) -> list[str]:
    bundle, problems = validate(doc)
    assert (bundle is None) == bool(problems)
    return problems


def test_the_seed_documents_bundle_is_valid():
    b = parse_bundle(SEED_DOC)
    assert b.seed == 7202985 and b.total == 1500000000 and b.hosts == ["causality", "hatchery", "2-monad"]
    assert b.algorithm == "canonical" and b.game == "xor" and b.expected_xor is None


def test_every_problem_is_reported_with_its_place():
    doc = {"seed": 2 ** 64, "ranges": [{"host": "", "start": 0, "count": 0, "polarity": 3, "color": 1}],
           "total": 5, "expected_xor": "0xnothex", "extra": True}
    probs = problems_of(doc)
    places = {p.split(":")[0] for p in probs}
    assert {"seed", "extra", "expected_xor", "ranges[0].host", "ranges[0].count", "ranges[0].polarity",
            "ranges[0].color"} <= places


def test_overlap_total_and_index_space():
    doc = json.loads(json.dumps(SEED_DOC))
    doc["ranges"][1]["start"] = 400000000  # overlaps causality
    assert any(p.startswith("ranges[1]") and "overlaps ranges[0]" in p for p in problems_of(doc))
    doc = json.loads(json.dumps(SEED_DOC))
    doc["total"] = 1500000001
    assert any(p.startswith("total:") and "1500000000" in p for p in problems_of(doc))
    doc = json.loads(json.dumps(SEED_DOC))
    doc["ranges"][2]["start"] = 2 ** 64 - 10
    assert any("runs past the end" in p for p in problems_of(doc))
    turbo = dict(json.loads(json.dumps(SEED_DOC)), algorithm="gayhy-turbo32")
    turbo["ranges"][2]["start"] = 2 ** 32 - 10
    assert any("2**32" in p for p in problems_of(turbo))


def test_other_malformations():
    assert problems_of([1, 2]) == ["$: expected a JSON object, got list"]
    assert any(p == "ranges: missing" for p in problems_of({"seed": 1, "total": 1}))
    doc = json.loads(json.dumps(SEED_DOC))
    doc["ranges"][1]["host"] = "causality"
    assert any(p.startswith("ranges[1].host") for p in problems_of(doc))
    doc = json.loads(json.dumps(SEED_DOC))
    doc["ranges"][0]["start"] = True  # a JSON boolean is not an integer
    assert any(p.startswith("ranges[0].start") for p in problems_of(doc))
    assert any(p.startswith("algorithm") for p in problems_of(dict(SEED_DOC, algorithm="fast")))
    assert any(p.startswith("game") for p in problems_of(dict(SEED_DOC, game="no-such-game")))
    assert any(p.startswith("chunk_size") for p in problems_of(dict(SEED_DOC, chunk_size=0)))


@pytest.mark.parametrize("hosts, words", [
    (["node a", "node  a", "b"], "ranges[1].host: 'node  a' is ranges[0]'s host"),
    (["a", "a\t", "b"], "ranges[1].host: 'a\\t' is padded with white space"),
    (["a", "(coordinator)", "b"], "ranges[1].host: (coordinator) is reserved"),
])
def test_hosts_that_cannot_be_told_apart_or_are_reserved_are_refused(hosts, words):
    doc = json.loads(json.dumps(SEED_DOC))
    for r, h in zip(doc["ranges"], hosts, strict=True):
        r["host"] = h
    assert words in problems_of(doc)[0]


def test_a_key_named_twice_is_refused_in_one_line(cli, tmp_path):
    text = json.dumps(SEED_DOC)
    bad = tmp_path / "twice.json"
    bad.write_text(text.replace('"seed": 7202985', '"seed": 7202985, "seed": 1'))
    r = cli("bundle", "check", str(bad))
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "the key 'seed' appears twice in one object" in r.stderr
    inner = tmp_path / "twice-inner.json"
    inner.write_text(text.replace('"host": "hatchery"', '"host": "hatchery", "host": "causality"'))
    r = cli("bundle", "check", str(inner))
    assert r.returncode == 2 and "the key 'host' appears twice" in r.stderr


@pytest.mark.parametrize("value, expected", [(None, None), (5, 5), ("0xff", 255), ("0X0000000000000001", 1)])
def test_expected_xor_forms(value, expected):
    assert parse_bundle(dict(SEED_DOC, expected_xor=value)).expected_xor == expected


@pytest.mark.parametrize("value", [-1, 2 ** 64, "ff", "0x" + "f" * 17, 1.5])
def test_expected_xor_refused(value):
    assert any(p.startswith("expected_xor") for p in problems_of(dict(SEED_DOC, expected_xor=value)))


def test_round_trip_and_hash():
    b = parse_bundle(SEED_DOC)
    again = parse_bundle(json.loads(json.dumps(b.to_json())))
    assert again == b and again.hash == b.hash
    assert parse_bundle(dict(SEED_DOC, seed=7202986)).hash != b.hash
    assert parse_bundle(dict(SEED_DOC, chunk_size=1000)).hash == b.hash  # chunking is not the work


def test_even_split_is_gayhys_rule():
    assert even_counts(10, 3) == [3, 3, 4]
    b = make_bundle(7202985, 1500000000, ["causality", "hatchery", "2-monad"])
    assert b.to_json()["ranges"] == SEED_DOC["ranges"]
    with pytest.raises(ValueError):
        even_counts(2, 3)


@given(st.integers(1, 10 ** 15), st.lists(st.floats(0.01, 1e12), min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_weighted_split_sums_and_is_proportional(total, weights):
    if total < len(weights) * 1000:
        total += len(weights) * 1000
    try:
        counts = weighted_counts(total, weights)
    except ValueError:
        return  # a weight too small for even one color: refused, fine
    assert sum(counts) == total and all(c >= 1 for c in counts)
    wsum = sum(weights)
    for c, w in zip(counts, weights, strict=True):  # every host finishes at the same time, to a color or two
        assert abs(c - total * w / wsum) <= 2 + total * 1e-12


def test_weights_count_by_ratio_however_large_and_must_be_finite():
    # weights are rates: two equal ones split evenly even when their sum overflows a float
    assert weighted_counts(10, [1e308, 1e308]) == weighted_counts(10, [1.0, 1.0]) == [5, 5]
    with pytest.raises(ValueError, match="positive finite"):
        weighted_counts(10, [float("inf"), 1.0])


def test_weighted_bundle_gives_faster_hosts_more():
    b = make_bundle(1, 43, ["a", "b"], weights={"a": 3.1e9, "b": 1.2e9})
    assert [r.count for r in b.ranges] == [31, 12]
    with pytest.raises(ValueError, match="no weight"):
        make_bundle(1, 43, ["a", "b"], weights={"a": 1.0})


def test_weights_from_documents():
    assert weights_from_doc({"a": 1, "b": 2.5}) == {"a": 1.0, "b": 2.5}
    assert weights_from_doc({"weights": {"a": 3}}) == {"a": 3.0}
    report = {"hosts": [{"host": "a", "colors_per_second": 7}, {"host": "b", "colors_per_second": 9}]}
    assert weights_from_doc(report) == {"a": 7.0, "b": 9.0}
    with pytest.raises(ValueError):
        weights_from_doc(["a"])


def _gayhy_positions(members: list[str]) -> list[int]:
    return [spi.fnv1a(m) % len(members) for m in members]


def _member_range(seed, members, total, me):
    """(start, count) of member ``me`` in the bundle every member derives alone."""
    r = nashprop_bundle(seed, members, total).range_of(me)
    return r.start, r.count


@given(st.integers(0, 2 ** 64 - 1),
       st.lists(st.from_regex(r"[a-z0-9][a-z0-9.-]{0,11}", fullmatch=True), min_size=1, max_size=60, unique=True),
       st.integers(1, 2 ** 40))
@settings(max_examples=200, deadline=None)
def test_nashprop_members_never_collide_and_cover_the_total(seed, members, total):
    if total < len(members):
        total = len(members)
    ranges = sorted(_member_range(seed, members, total, m) for m in members)
    assert ranges[0][0] == 0 and all(c >= 1 for _, c in ranges)
    for (s0, c0), (s1, _) in pairwise(ranges):
        assert s0 + c0 == s1  # disjoint and gap-free
    assert ranges[-1][0] + ranges[-1][1] == total


def test_nashprop_needs_no_coordinator_order_is_irrelevant():
    members = [f"node-{i}" for i in range(34)]
    mine = {m: _member_range(7202985, members, 10 ** 10, m) for m in members}
    shuffled = list(reversed(members))  # another member's view of the same membership
    assert all(_member_range(7202985, shuffled, 10 ** 10, m) == mine[m] for m in members)
    assert nashprop_bundle(7202985, members, 10 ** 10) == nashprop_bundle(7202985, shuffled, 10 ** 10)
    with pytest.raises(ValueError):
        nashprop_order(1, ["a", "a"])


def test_gayhys_hash_mod_n_collides_where_nashprop_does_not():
    members = [f"node-{i}" for i in range(34)]
    positions = _gayhy_positions(members)
    assert len(set(positions)) < len(members)  # gay.hy: two hosts on one position
    starts = [_member_range(7202985, members, 34 * 1000, m)[0] for m in members]
    assert len(set(starts)) == len(members)


# ---------------------------------------------------------------- the CLI

def test_cli_check_good_and_bad(cli, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(SEED_DOC))
    r = cli("bundle", "check", str(good))
    assert r.returncode == 0 and "ok" in r.stdout
    bad = tmp_path / "bad.json"
    doc = json.loads(json.dumps(SEED_DOC))
    doc["ranges"][1]["start"] = 10
    doc["ranges"][2]["polarity"] = 7
    bad.write_text(json.dumps(doc))
    r = cli("bundle", "check", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2
    assert any("ranges[2].polarity" in ln for ln in lines) and any("overlaps" in ln for ln in lines)
    (tmp_path / "broken.json").write_text('{"seed": 1,')
    r = cli("bundle", "check", str(tmp_path / "broken.json"))
    assert r.returncode == 2 and "malformed JSON at line 1" in r.stderr
    r = cli("bundle", "check", str(tmp_path / "absent.json"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_cli_make_even_weighted_and_expected(cli, tmp_path):
    out = tmp_path / "b.json"
    r = cli("bundle", "make", "--seed", "7202985", "--total", "1.5e9", "--hosts", "causality,hatchery,2-monad",
            "-o", str(out))
    assert r.returncode == 0 and json.loads(out.read_text())["ranges"] == SEED_DOC["ranges"]
    w = tmp_path / "w.json"
    w.write_text(json.dumps({"a": 3.1e9, "b": 1.2e9}))
    r = cli("bundle", "make", "--seed", "1", "--total", "43", "--hosts", "a,b", "--weights-from", str(w))
    assert r.returncode == 0 and [x["count"] for x in json.loads(r.stdout)["ranges"]] == [31, 12]
    r = cli("bundle", "make", "--seed", "5", "--total", "3000", "--hosts", "x,y,z", "--compute-expected")
    b = parse_bundle(json.loads(r.stdout))
    assert b.expected_xor == spi.xor_range(5, 0, 3000)  # known answer from the reference


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_cli_make_writes_a_file_that_honours_the_umask(cli, tmp_path, umask, mode):
    out = tmp_path / "b.json"
    r = cli("bundle", "make", "--seed", "1", "--total", "10", "--hosts", "a,b", "-o", str(out),
            preexec_fn=lambda: os.umask(umask))
    assert r.returncode == 0, r.stderr
    assert out.stat().st_mode & 0o777 == mode
    assert parse_bundle(json.loads(out.read_text())).total == 10


def test_cli_make_refuses_bad_input_and_writes_nothing(cli, tmp_path):
    out = tmp_path / "b.json"
    for args in (["--total", "2", "--hosts", "a,b,c"], ["--total", "-5", "--hosts", "a"],
                 ["--total", "10", "--hosts", "a,,b"], ["--total", "10", "--hosts", "a,b", "--weights", "a=1"]):
        r = cli("bundle", "make", "--seed", "1", *args, "-o", str(out))
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (args, r.stderr)
        assert not out.exists()


def test_cli_make_refuses_a_missing_output_folder_before_computing(cli, tmp_path):
    # 1e13 colors would outlast the timeout on any machine: only a refusal before computing returns in time.
    out = tmp_path / "absent" / "b.json"
    r = cli("bundle", "make", "--seed", "1", "--total", "1e13", "--hosts", "a,b", "--compute-expected",
            "-o", str(out), timeout=30)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr, r.stderr
    assert not out.parent.exists()


def test_game_spec_is_stored_canonically():
    # "fixed" and its explicit default depth are one game: same spec, same bundle hash.
    from exo_gay.bundle import parse_bundle

    doc = {"seed": 1, "ranges": [{"host": "a", "start": 0, "count": 10, "polarity": 0}], "total": 10}
    short = parse_bundle({**doc, "game": "fixed"})
    spelled = parse_bundle({**doc, "game": "fixed( depth = 0x100000 )"})
    assert short.game == spelled.game == "fixed(depth=1048576)"
    assert short.hash == spelled.hash
