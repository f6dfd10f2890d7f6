"""The colour games: fast kernels against the pure-Python references, monoid laws, disguise."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exo_gay import games, spi
from exo_gay.fingerprint import Fingerprint, combine_all
from exo_gay.reductions import get_reduction, reduction_names
from exo_gay.runner import reduce_range

TOP = spi.INDEX_SPACE


def brute_furthest(seed, start, count):
    # Independent of games.py: straight from SPEC.md's definition.
    target = spi.fnv1a("gay") ^ 0xFFFFFFFFFFFFFFFF
    return min((bin(spi.color_at(seed, i) ^ target).count("1"), i, spi.color_at(seed, i))
               for i in range(start, start + count))


def brute_near_fixed(seed, start, count):
    return min((bin(spi.mix(c) ^ c).count("1"), i, c)
               for i in range(start, start + count) for c in [spi.color_at(seed, i)])


RANGES = [
    (spi.IHOR_SEED, 0, 3000),
    (spi.IHOR_SEED, 123_456_789, 4097),  # crosses the kernel's 4096-colour block boundary
    (spi.GAY_SEED, 1 << 63, 4096),
    (0, TOP - 2500, 2500),  # the very top of the index space
    (0xFFFFFFFFFFFFFFFF, TOP - 1, 1),
    (42, 8191, 1),
]


@pytest.mark.parametrize("seed,start,count", RANGES)
def test_furthest_matches_reference(seed, start, count):
    expect = brute_furthest(seed, start, count)
    assert games.furthest_reference(seed, start, count) == expect
    assert games.furthest(seed, start, count) == expect


@pytest.mark.parametrize("seed,start,count", RANGES)
def test_near_fixed_matches_reference(seed, start, count):
    expect = brute_near_fixed(seed, start, count)
    assert games.near_fixed_reference(seed, start, count) == expect
    assert games.near_fixed(seed, start, count) == expect


def test_target_is_fnv1a_gay_flipped():
    assert games.TARGET == spi.fnv1a("gay") ^ 0xFFFFFFFFFFFFFFFF


@pytest.mark.parametrize("seed", [0, spi.IHOR_SEED, 0xFFFFFFFFFFFFFFFF])
def test_furthest_finds_the_target_itself(seed):
    # mix is a bijection: exactly one index has colour TARGET, and its distance is 0.
    i = ((spi.unmix(games.TARGET) - seed) * pow(spi.GOLDEN, -1, TOP)) % TOP
    assert spi.color_at(seed, i) == games.TARGET
    start = max(0, i - 5000)
    count = min(TOP - start, 10_000)
    assert games.furthest(seed, start, count) == (0, i, games.TARGET)


def test_empty_range_is_identity():
    assert games.furthest(1, 5, 0) is None
    assert games.near_fixed(1, 5, 0) is None
    red = get_reduction("furthest")
    assert reduce_range(1, 5, 0, reduction=red) is red.identity is None


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, spi.MASK64), start=st.integers(0, TOP - 20_000),
       cuts=st.lists(st.integers(0, 20_000), max_size=6), spec=st.sampled_from(["furthest", "fixed(depth=8)"]))
def test_any_split_combines_to_the_whole(seed, start, cuts, spec):
    red = get_reduction(spec)
    count = 20_000
    bounds = sorted({0, count, *cuts})
    pieces = [red.piece(None, seed, start + a, b - a, "canonical") for a, b in zip(bounds, bounds[1:])]
    whole = red.piece(None, seed, start, count, "canonical")
    left = red.identity
    for p in pieces:
        left = red.combine(left, p)
    right = red.identity
    for p in reversed(pieces):
        right = red.combine(p, right)
    assert left == right == whole
    assert red.combine(whole, red.identity) == red.combine(red.identity, whole) == whole


@pytest.mark.parametrize("spec", ["furthest", "fixed(depth=16)"])
def test_runner_threads_agree_with_one_piece(spec):
    red = get_reduction(spec)
    seed, start, count = 99, TOP - 3 * (1 << 20) - 17, 3 * (1 << 20) + 17  # several chunks, to the top
    one = red.piece(None, seed, start, count, "canonical")
    assert reduce_range(seed, start, count, reduction=red, threads=2) == one
    assert reduce_range(seed, start, count, reduction=red, threads=1) == one


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h0=st.integers(0, spi.MASK64), depth=st.integers(1, 700), bits=st.sampled_from([6, 8, 12, 16]))
def test_brent_probe_matches_dict_hunt(h0, depth, bits):
    # mix truncated to `bits` bits has short rhos, so both outcomes (found, not found) occur.
    mask = (1 << bits) - 1
    assert games._cycle_fast(games._kernels(), h0, depth, mask) == games.cycle_reference(h0, depth, mask)


def test_cycle_reference_knows_a_cycle():
    # An independent check on the hunt itself: walk until a value repeats, by brute force.
    mask = 0xFF
    chain = [5 & mask]
    while chain[-1] not in chain[:-1]:
        chain.append(spi.mix(chain[-1]) & mask)
    tail = chain.index(chain[-1])
    length = len(chain) - 1 - tail
    assert games.cycle_reference(5, tail + length, mask) == (tail, length)
    assert games.cycle_reference(5, tail + length - 1, mask) is None
    assert games._cycle_fast(games._kernels(), 5, tail + length, mask) == (tail, length)


def test_no_short_cycle_of_mix_from_a_winner():
    assert games.cycle_probe(spi.color_at(spi.IHOR_SEED, 0), 5000) is None
    assert games.cycle_reference(spi.color_at(spi.IHOR_SEED, 0), 5000) is None


def test_specs_are_canonical_and_checked():
    assert "furthest" in reduction_names() and "fixed" in reduction_names()
    assert get_reduction("furthest").name == "furthest"
    assert get_reduction("fixed").name == f"fixed(depth={games.DEFAULT_DEPTH})"
    assert get_reduction("fixed( depth = 0x40 )").name == "fixed(depth=64)"
    assert get_reduction("fixed(depth=64)") is get_reduction("fixed(depth=64)")
    assert get_reduction("furthest").algorithms == ("canonical",)
    with pytest.raises(KeyError):
        get_reduction("nearest")
    for bad in ["fixed(depth=0)", "fixed(depth=x)", "fixed(width=3)", "furthest(depth=3)",
                f"fixed(depth={games.MAX_DEPTH + 1})", "fixed(depth=1,depth=2)", "fixed(", "(depth=1)"]:
        with pytest.raises((ValueError, KeyError)):
            get_reduction(bad)
    with pytest.raises(ValueError):
        reduce_range(1, 0, 10, algorithm="gayhy-turbo32", reduction=get_reduction("furthest"))


@pytest.mark.parametrize("spec", ["furthest", "fixed(depth=32)"])
def test_wire_round_trip_and_records(spec):
    red = get_reduction(spec)
    seed = 7
    a = Fingerprint.of_range(seed, "canonical", 0, 1500, red.piece(None, seed, 0, 1500, "canonical"), game=red.name)
    b = Fingerprint.of_range(seed, "canonical", 1500, 1500, red.piece(None, seed, 1500, 1500, "canonical"), game=red.name)
    both = combine_all([b, a])
    ref = brute_furthest(seed, 0, 3000) if spec == "furthest" else brute_near_fixed(seed, 0, 3000)
    assert both.value == ref and both.ranges == ((0, 3000),)
    text = json.dumps(both.to_json(), sort_keys=True)
    back = Fingerprint.from_json(json.loads(text))
    assert back == both and json.dumps(back.to_json(), sort_keys=True) == text
    assert red.to_wire(None) is None and red.from_wire(None) is None
    wire = red.to_wire(ref)
    assert wire["color"] == spi.hex64(ref[2]) and wire["index"] == ref[1] and wire["distance"] == ref[0]
    if spec.startswith("fixed"):
        assert wire["cycle"] is None
    for bad in [{"distance": 3}, {"distance": 65, "index": 1, "color": "0x1"},
                {"distance": 3, "index": -1, "color": "0x1"}, {"distance": 3, "index": 1, "color": "12"},
                {"distance": True, "index": 1, "color": "0x1"}, "x"]:
        with pytest.raises(ValueError):
            red.from_wire(bad)


# ---------------------------------------------------------------- disguise

FPS = (0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x0F1E2D3C4B5A6978)


@settings(max_examples=60, deadline=None)
@given(message=st.text(max_size=300), fps=st.tuples(*[st.integers(0, spi.MASK64)] * 3))
def test_disguise_round_trip(message, fps):
    mask = games.encode_message(message, fps, seed=1)
    assert games.decode_message(json.loads(json.dumps(mask)), fps) == message


def test_disguise_longest_message_round_trips():
    message = "é" * (games.MAX_MESSAGE_BYTES // 2)
    assert len(message.encode()) == games.MAX_MESSAGE_BYTES
    assert games.decode_message(games.encode_message(message, FPS), FPS) == message
    with pytest.raises(games.DisguiseError):
        games.encode_message(message + "x", FPS)


@pytest.mark.parametrize("drop", [0, 1, 2])
def test_disguise_needs_every_polarity(drop):
    message = "meet at the triad"
    mask = games.encode_message(message, FPS)
    with pytest.raises(games.DisguiseError):  # only two shares
        games.decode_message(mask, [f for p, f in enumerate(FPS) if p != drop])
    for guess in (0, FPS[drop] ^ 1, FPS[(drop + 1) % 3]):  # the third share guessed wrong
        wrong = list(FPS)
        wrong[drop] = guess
        with pytest.raises(games.DisguiseError):
            games.decode_message(mask, wrong)


def test_disguise_hides_the_bytes():
    message = "A" * 64
    mask = games.encode_message(message, FPS)
    raw = b"".join(int(w, 16).to_bytes(8, "little") for w in mask["words"])
    assert b"AAAA" not in raw


@pytest.mark.parametrize("bad", [
    None, [], {"game": "furthest"}, {"game": "disguise", "version": 2, "words": ["0x1", "0x2"]},
    {"game": "disguise", "version": 1, "words": ["0x1"]},
    {"game": "disguise", "version": 1, "words": ["0x1", "zz"]},
    {"game": "disguise", "version": 1, "words": ["0x1", "0x12345678901234567"]},
    {"game": "disguise", "version": 1, "words": ["0x1"] * 600},
    {"game": "disguise", "version": 1, "words": ["0x1", "0x2"], "seed": -1},
])
def test_malformed_masks_are_refused(bad):
    with pytest.raises(games.DisguiseError):
        games.decode_message(bad, FPS)


def small_bundle():
    return {"seed": spi.IHOR_SEED, "total": 3001, "expected_xor": None,
            "ranges": [{"host": "a", "start": 0, "count": 1000, "polarity": 0},
                       {"host": "b", "start": 1000, "count": 1000, "polarity": 1},
                       {"host": "c", "start": 2000, "count": 1000, "polarity": 2},
                       {"host": "d", "start": 3000, "count": 1, "polarity": 0}]}


def test_bundle_polarity_fingerprints_are_the_xor_of_their_ranges():
    seed, by_p = games.bundle_polarity_ranges(small_bundle())
    assert seed == spi.IHOR_SEED
    assert by_p == {0: [(0, 1000), (3000, 1)], 1: [(1000, 1000)], 2: [(2000, 1000)]}
    fps = games.polarity_fingerprints(seed, by_p, threads=2)
    assert fps == (spi.xor_range(seed, 0, 1000) ^ spi.xor_range(seed, 3000, 1),
                   spi.xor_range(seed, 1000, 1000), spi.xor_range(seed, 2000, 1000))


@pytest.mark.parametrize("edit", [
    lambda b: b.update(seed="x"), lambda b: b.update(seed=-1), lambda b: b.update(ranges=[]),
    lambda b: b["ranges"][1].update(start=500),  # overlaps range 0
    lambda b: b["ranges"][2].update(polarity=3), lambda b: b["ranges"][2].update(count="9"),
    lambda b: (b["ranges"].pop(1), b.update(total=2001)),  # polarity ERGODIC gets no colours
    lambda b: b.update(algorithm="gayhy-turbo32"),
    lambda b: b["ranges"][0].update(start=TOP - 1),  # runs past 2**64
])
def test_bad_bundles_are_refused(edit):
    b = small_bundle()
    edit(b)
    with pytest.raises(games.DisguiseError):
        games.bundle_polarity_ranges(b)


def test_bundle_missing_a_polarity_names_it():
    b = small_bundle()
    b["ranges"].pop(1)
    b["total"] = 2001
    with pytest.raises(games.DisguiseError, match="ERGODIC"):
        games.bundle_polarity_ranges(b)
