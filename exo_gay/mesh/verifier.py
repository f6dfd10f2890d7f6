"""The coordinator's own computation: its measured rate (the base of every deadline), the
form of each answer, the audits (commit, then audit: audit.py), and recomputing a chunk.

Nothing a miner says about itself is used: deadlines come from the rate measured here, and
an answer counts only once the leaves drawn after its commitment were recomputed here.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import time
from typing import Any

from .. import audit
from ..bundle import Bundle
from ..registry import get_reduction
from .client import MinerError
from .wire import audit_context, value_from_text, value_to_text

DEADLINE_FLOOR_S = 10.0
DEADLINE_FACTOR = 20.0  # a chunk may take this many times what it takes one core here


class Lie(Exception):
    """An answer shown wrong by the coordinator's own computation."""


class Verifier:
    def __init__(self, bundle: Bundle, audits: int, local_threads: int | None = None,
                 chunk_deadline: float | None = None):
        self.bundle, self.audits = bundle, audits
        self.local_threads, self.chunk_deadline = local_threads, chunk_deadline
        self.reduction = get_reduction(bundle.game)
        self.context = audit_context(bundle.hash, bundle.seed, bundle.algorithm, bundle.game)
        self.own_rate = 0.0  # colors/s of one core here
        self.audits_made = 0
        self.audit_colors = 0

    def deadline(self, count: int) -> float:
        """Seconds a miner gets for `count` colors: from our own rate, never from the miner's word."""
        if self.chunk_deadline:
            return self.chunk_deadline
        return DEADLINE_FLOOR_S + DEADLINE_FACTOR * count / max(self.own_rate, 1.0)

    async def local(self, start: int, count: int) -> Any:
        from ..runner import reduce_range

        b = self.bundle
        return await asyncio.get_running_loop().run_in_executor(None, lambda: reduce_range(
            b.seed, start, count, b.algorithm, reduction=self.reduction, threads=self.local_threads))

    async def truth(self, start: int, count: int) -> str:
        """The chunk's value, recomputed here whole (a dispute)."""
        return value_to_text(self.reduction, await self.local(start, count))

    async def calibrate(self) -> None:
        from ..runner import reduce_range

        b = self.bundle

        def measure() -> float:
            n = 1 << 20
            reduce_range(b.seed, 0, 1 << 12, b.algorithm, reduction=self.reduction, threads=1)
            t0 = time.perf_counter()
            reduce_range(b.seed, 0, n, b.algorithm, reduction=self.reduction, threads=1)
            return n / max(time.perf_counter() - t0, 1e-9)

        self.own_rate = await asyncio.get_running_loop().run_in_executor(None, measure)

    def check_form(self, start: int, count: int, ans: Any) -> None:
        """MinerError for a malformed answer, Lie for a game value its own leaves contradict."""
        try:
            value_from_text(self.reduction, ans.text)
        except ValueError as e:
            raise MinerError("BAD_RESULT", f"malformed value: {str(e)[:80]}") from None
        n = len(audit.leaf_ranges(start, count))
        if self.reduction.name == "xor":
            if len(ans.root) != 32 or ans.n_leaves != n:
                raise MinerError("BAD_RESULT", "no valid commitment (root, n_leaves) with the value")
            return
        if len(ans.leaf_values) != n:
            raise MinerError("BAD_RESULT", f"{len(ans.leaf_values)} leaf values for {n} leaves")
        try:
            leaves = [value_from_text(self.reduction, t) for t in ans.leaf_values]
        except ValueError as e:
            raise MinerError("BAD_RESULT", f"malformed leaf value: {str(e)[:80]}") from None
        total = functools.reduce(self.reduction.combine, leaves, self.reduction.identity)
        if value_to_text(self.reduction, total) != ans.text:
            raise Lie(f"[{start}, +{count}): the value is not what its own leaves combine to")

    async def audit(self, m: Any, start: int, count: int, ans: Any) -> None:
        """Raises Lie if our own computation contradicts the answer, MinerError if the miner does
        not answer its audit (the caller convicts it either way)."""
        if self.audits == 0:
            return
        if self.reduction.name != "xor":
            await self._audit_game(m, start, count, ans)
            return
        b = self.bundle
        value = value_from_text(self.reduction, ans.text)
        root, n_leaves = ans.root, ans.n_leaves
        leaves = audit.choose_leaves(secrets.token_bytes(32), root, n_leaves, self.audits)
        # one call, not retried: a miner that has just committed answers its audit within one
        # deadline or is convicted (a retry would only let it pick which audits to answer later)
        proofs = await m.client.audit(b.hash, b.seed, b.algorithm, b.game, start, count, root, leaves,
                                      timeout=self.deadline(0))
        ranges = audit.leaf_ranges(start, count, n_leaves)
        for p in proofs:
            if not audit.verify_path(self.context, start, count, n_leaves, root, value, p.index, p.value, p.path):
                m.audits_failed += 1
                raise Lie(f"leaf {p.index} of [{start}, +{count}) does not open its commitment")
        for p in proofs:
            await self._recompute(m, start, count, p.index, ranges[p.index], p.value)

    async def _recompute(self, m: Any, start: int, count: int, k: int, leaf: tuple[int, int], claimed: Any,
                         as_text: bool = False) -> None:
        """Leaf k recomputed here against the miner's value (``as_text``: a game's leaf value as the
        miner wrote it, compared as text)."""
        a, n = leaf
        truth = await self.local(a, n)
        if as_text:
            truth = value_to_text(self.reduction, truth)
        self.audits_made += 1
        self.audit_colors += n
        if truth != claimed:
            m.audits_failed += 1
            raise Lie(f"leaf {k} of [{start}, +{count}) recomputed by the coordinator differs")
        m.audits_passed += 1

    async def _audit_game(self, m: Any, start: int, count: int, ans: Any) -> None:
        """A game's answer holds every leaf's value (the commitment; check_form combined them):
        recompute some of them."""
        digest = hashlib.sha256("\0".join(ans.leaf_values).encode()).digest()
        ranges = audit.leaf_ranges(start, count)
        for k in audit.choose_leaves(secrets.token_bytes(32), digest, len(ranges), self.audits):
            await self._recompute(m, start, count, k, ranges[k], ans.leaf_values[k], as_text=True)
