"""The mined color games on every backend, against plain loops over spi; monoid laws; wire forms."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exo_gay import games, kernels, spi
from exo_gay.fingerprint import Fingerprint, combine_all
from exo_gay.kernels import get_backend
from exo_gay.registry import get_reduction
from exo_gay.runner import reduce_range

TOP = spi.INDEX_SPACE
TARGET = spi.fnv1a("gay") ^ 0xFFFFFFFFFFFFFFFF  # docs/games.md, game 1: every bit of fnv1a("gay") flipped


def brute_furthest(seed, start, count):
    # Straight from the definition (docs/games.md): a plain loop over spi.color_at.
    return min((bin(spi.color_at(seed, i) ^ TARGET).count("1"), i, spi.color_at(seed, i))
               for i in range(start, start + count))


def brute_near_fixed(seed, start, count):
    return min((bin(spi.mix(c) ^ c).count("1"), i, c)
               for i in range(start, start + count) for c in [spi.color_at(seed, i)])


RANGES = [
    (spi.IHOR_SEED, 0, 3000),
    (spi.IHOR_SEED, 123_456_789, 4097),  # crosses the kernel's 4096-color block boundary
    (spi.GAY_SEED, 1 << 63, 4096),
    (0, TOP - 2500, 2500),  # the very top of the index space
    (0xFFFFFFFFFFFFFFFF, TOP - 1, 1),
    (42, 8191, 1),
]


@pytest.fixture(params=kernels.backend_names())
def backend(request):
    return get_backend(request.param, "games")


@pytest.mark.parametrize("seed,start,count", RANGES)
def test_furthest_matches_a_plain_loop(backend, seed, start, count):
    expect = brute_furthest(seed, start, count)
    assert spi.furthest_range(seed, start, count) == expect
    assert backend.furthest_piece(seed, start, count) == expect


@pytest.mark.parametrize("seed,start,count", RANGES)
def test_near_fixed_matches_a_plain_loop(backend, seed, start, count):
    expect = brute_near_fixed(seed, start, count)
    assert spi.near_fixed_range(seed, start, count) == expect
    assert backend.near_fixed_piece(seed, start, count) == expect


def test_target_is_fnv1a_gay_flipped():
    assert games.TARGET == spi.FURTHEST_TARGET == TARGET


@pytest.mark.parametrize("seed", [0, spi.IHOR_SEED, 0xFFFFFFFFFFFFFFFF])
def test_furthest_finds_the_target_itself(backend, seed):
    # mix is a bijection: exactly one index has color TARGET, and its distance is 0.
    i = ((spi.unmix(TARGET) - seed) * pow(spi.GOLDEN, -1, TOP)) % TOP
    assert spi.color_at(seed, i) == TARGET
    start = max(0, i - 5000)
    count = min(TOP - start, 10_000)
    assert backend.furthest_piece(seed, start, count) == (0, i, TARGET)


def test_empty_range_is_identity(backend):
    assert backend.furthest_piece(1, 5, 0) is None
    assert backend.near_fixed_piece(1, 5, 0) is None
    red = get_reduction("furthest")
    assert reduce_range(1, 5, 0, reduction=red, backend=backend) is red.identity is None


@pytest.mark.parametrize("name", kernels.backend_names())
@pytest.mark.parametrize("spec", ["furthest", "fixed(depth=64)"])
def test_every_backend_gives_the_plain_loops_answer_through_the_runner(name, spec):
    # --backend python must mean pure Python for games too, and give the same answer as numba.
    seed, start, count = spi.GAY_SEED, TOP - 6000, 6000
    brute = brute_furthest if spec == "furthest" else brute_near_fixed
    got = reduce_range(seed, start, count, reduction=get_reduction(spec), threads=2, backend=name)
    assert got == brute(seed, start, count)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, spi.MASK64), start=st.integers(0, TOP - 20_000),
       cuts=st.lists(st.integers(0, 20_000), max_size=6), spec=st.sampled_from(["furthest", "fixed(depth=8)"]))
def test_any_split_combines_to_the_whole(seed, start, cuts, spec):
    red = get_reduction(spec)
    be = get_backend("auto", red.family)
    count = 20_000
    bounds = sorted({0, count, *cuts})
    pieces = [red.piece(be, seed, start + a, b - a, "canonical") for a, b in pairwise(bounds)]
    whole = red.piece(be, seed, start, count, "canonical")
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
    be = get_backend("auto", red.family)
    seed, start, count = 99, TOP - 3 * (1 << 20) - 17, 3 * (1 << 20) + 17  # several chunks, to the top
    one = red.piece(be, seed, start, count, "canonical")
    assert reduce_range(seed, start, count, reduction=red, threads=2) == one
    assert reduce_range(seed, start, count, reduction=red, threads=1) == one


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h0=st.integers(0, spi.MASK64), depth=st.integers(1, 700), bits=st.sampled_from([6, 8, 12, 16]))
def test_brent_probe_matches_dict_hunt(h0, depth, bits):
    # mix truncated to `bits` bits has short rhos, so both outcomes (found, not found) occur.
    mask = (1 << bits) - 1
    assert get_backend("numba-cpu", "games").cycle_probe(h0, depth, mask) == spi.cycle_within(h0, depth, mask)


def test_cycle_within_knows_a_cycle(backend):
    # An independent check on the hunt itself: walk until a value repeats, by brute force.
    mask = 0xFF
    chain = [5 & mask]
    while chain[-1] not in chain[:-1]:
        chain.append(spi.mix(chain[-1]) & mask)
    tail = chain.index(chain[-1])
    length = len(chain) - 1 - tail
    assert spi.cycle_within(5, tail + length, mask) == (tail, length)
    assert spi.cycle_within(5, tail + length - 1, mask) is None
    assert backend.cycle_probe(5, tail + length, mask) == (tail, length)
    assert backend.cycle_probe(5, tail + length - 1, mask) is None


def test_no_short_cycle_of_mix_from_a_winner():
    h0 = spi.color_at(spi.IHOR_SEED, 0)
    assert games.cycle_probe(h0, 5000) is None
    assert games.cycle_probe(h0, 5000, "python") is None
    assert spi.cycle_within(h0, 5000) is None


def test_algorithms_other_than_canonical_are_refused():
    with pytest.raises(ValueError):
        reduce_range(1, 0, 10, algorithm="gayhy-turbo32", reduction=get_reduction("furthest"))


@pytest.mark.parametrize("spec", ["furthest", "fixed(depth=32)"])
def test_wire_round_trip_and_records(spec):
    red = get_reduction(spec)
    be = get_backend("auto", red.family)
    seed = 7
    a = Fingerprint.of_range(seed, "canonical", 0, 1500, red.piece(be, seed, 0, 1500, "canonical"), game=red.name)
    b = Fingerprint.of_range(seed, "canonical", 1500, 1500, red.piece(be, seed, 1500, 1500, "canonical"),
                             game=red.name)
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
