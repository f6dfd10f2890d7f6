"""Fingerprint records compose: any split combines to the whole; overlaps and duplicates are refused."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exo_gay import spi
from exo_gay.fingerprint import CoverageError, Fingerprint, combine_all, normalize

SEED = spi.IHOR_SEED


def record(start, count, seed=SEED, algorithm="canonical"):
    return Fingerprint.of_range(seed, algorithm, start, count, spi.xor_range(seed, start, count))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=8), st.randoms(use_true_random=False),
       st.integers(0, spi.INDEX_SPACE - 400))
def test_any_split_in_any_order_combines_to_the_whole(sizes, rnd, base):
    parts, a = [], base
    for n in sizes:
        parts.append(record(a, n))
        a += n
    rnd.shuffle(parts)
    whole = combine_all(parts)
    assert whole.ranges == ((base, sum(sizes)),)
    assert whole.xor == spi.xor_range(SEED, base, sum(sizes))


def test_duplicates_and_overlaps_are_refused():
    a, b = record(0, 10), record(5, 10)
    with pytest.raises(CoverageError, match="overlap"):
        a.combine(a)  # XOR would silently cancel this duplicate to 0
    with pytest.raises(CoverageError, match="overlap"):
        combine_all([a, b])


def test_mismatched_records_are_refused():
    with pytest.raises(CoverageError, match="seed"):
        record(0, 10).combine(record(10, 10, seed=SEED + 1))
    with pytest.raises(CoverageError, match="algorithm"):
        combine_all([record(0, 10), Fingerprint.of_range(SEED, "gayhy-turbo32", 10, 10, 0)])


def test_gaps_are_kept_as_separate_ranges():
    r = combine_all([record(0, 10), record(20, 5)])
    assert r.ranges == ((0, 10), (20, 5)) and r.count == 15 and not r.contiguous


def test_json_round_trip():
    r = combine_all([record(spi.INDEX_SPACE - 10, 10), record(0, 3)])
    d = r.to_json()
    assert d["xor"].startswith("0x") and d["count"] == 13
    assert Fingerprint.from_json(d) == r


def test_normalize_merges_neighbours_and_drops_empty():
    assert normalize([(10, 5), (0, 10), (30, 0)]) == ((0, 15),)
