"""The Merkle commitment binds every label (issue 24, item 1), checked against an independent
implementation of the format (tests/merkle_reference.py)."""

from __future__ import annotations

import random

import merkle_reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from exo_gay import audit

CTX = b"bundle\0seed\0canonical\0xor"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(0, 1 << 40), st.integers(0, 2**32))
def test_roots_match_an_independent_implementation_and_every_path_opens(n, start, seed):
    rng = random.Random(seed)
    count = n * 3 + rng.randrange(3)
    values = [rng.getrandbits(64) for _ in ref.ranges(start, count)]
    tree = audit.build(CTX, start, count, values)
    lv = ref.levels(CTX, start, count, values)
    assert tree.root == lv[-1][0][0]
    total = 0
    for v in values:
        total ^= v
    assert tree.value == total
    for k in range(tree.n_leaves):
        assert tree.path(k) == ref.path(lv, k)
        assert audit.verify_path(CTX, start, count, tree.n_leaves, tree.root, total, k, values[k], tree.path(k))


def test_a_forged_label_moves_the_value_only_if_some_leaf_below_it_fails():
    """The attack of issue 24: honest leaves, one internal label forged, a root consistent with
    it.  Leaves outside the forged subtree still open (their path carries the forged label, now
    bound), but the claimed value is then the forged one, and every leaf under the forged node
    fails; before the fix, every leaf opened."""
    rng = random.Random(7)
    start, count = 1000, 256 * 5
    values = [rng.getrandbits(64) for _ in range(256)]
    honest = audit.build(CTX, start, count, values)
    for level, index in [(1, 0), (1, 37), (3, 5), (7, 1)]:
        forged = ref.levels(CTX, start, count, values, forge=(level, index, 0xDEADBEEF))
        root, value = forged[-1][0]
        assert value != honest.value and root != honest.root
        under = set(range(index << level, min(256, (index + 1) << level)))
        for k in range(256):
            ok = audit.verify_path(CTX, start, count, 256, root, value, k, values[k], ref.path(forged, k))
            assert ok == (k not in under), (level, index, k)


def test_a_sibling_label_changed_on_a_path_is_refused():
    rng = random.Random(3)
    values = [rng.getrandbits(64) for _ in range(256)]
    t = audit.build(CTX, 0, 1 << 20, values)
    for k in (0, 5, 255):
        p = t.path(k)
        for i in range(len(p)):
            bad = list(p)
            d, x = bad[i]
            bad[i] = (d, x ^ 1)
            # the liar also adjusts the claimed value so the XORs still add up
            assert not audit.verify_path(CTX, 0, 1 << 20, 256, t.root, t.value ^ 1, k, values[k], bad)
            assert not audit.verify_path(CTX, 0, 1 << 20, 256, t.root, t.value, k, values[k], bad)
