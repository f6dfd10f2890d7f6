"""Seed bundles: who mines which range of which seed, as one JSON document.

The seed document's format, plus optional fields this package needs::

    {"version": 1, "seed": 7202985, "algorithm": "canonical", "game": "xor",
     "chunk_size": 1000000000,
     "ranges": [{"host": "causality", "start": 0, "count": 500000000, "polarity": 0}, ...],
     "total": 1500000000, "expected_xor": null}

Validation reports every problem with its place (``ranges[1].count``), so a bad bundle is
fixed in one pass.  Making a bundle and NashProp are pure functions of their arguments.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Iterable

from . import jsonfile
from .errors import InputError
from .gayhy import ALGORITHMS, INDEX_SPACES, index_space_text
from .registry import get_reduction
from .spi import INDEX_SPACE, MASK64, fnv1a, hex64, mix

BUNDLE_VERSION = 1
COORDINATOR = "(coordinator)"  # the coordinator's name where hosts are named: never a bundle's host
TOP_KEYS = ("version", "seed", "ranges", "total", "expected_xor", "algorithm", "game", "chunk_size")
RANGE_KEYS = ("host", "start", "count", "polarity")


class BundleError(InputError):
    """A bundle with problems; ``problems`` lists each as 'place: what is wrong'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


@dataclass(frozen=True)
class HostRange:
    host: str
    start: int
    count: int
    polarity: int

    @property
    def end(self) -> int:
        return self.start + self.count


@dataclass(frozen=True)
class Bundle:
    seed: int
    ranges: tuple[HostRange, ...]
    expected_xor: int | None = None
    algorithm: str = "canonical"
    game: str = "xor"
    chunk_size: int | None = None
    version: int = BUNDLE_VERSION

    @property
    def total(self) -> int:
        return sum(r.count for r in self.ranges)

    @property
    def hosts(self) -> list[str]:
        return [r.host for r in self.ranges]

    def range_of(self, host: str) -> HostRange:
        for r in self.ranges:
            if r.host == host:
                return r
        raise KeyError(host)

    def to_json(self) -> dict:
        d: dict[str, Any] = {"version": self.version, "seed": self.seed, "algorithm": self.algorithm,
                             "game": self.game}
        if self.chunk_size is not None:
            d["chunk_size"] = self.chunk_size
        d["ranges"] = [{"host": r.host, "start": r.start, "count": r.count, "polarity": r.polarity}
                       for r in self.ranges]
        d["total"] = self.total
        d["expected_xor"] = None if self.expected_xor is None else hex64(self.expected_xor)
        return d

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of what is mined (chunking excluded): binds results to it."""
        d = self.to_json()
        d.pop("chunk_size", None)
        return hashlib.sha256(jsonfile.canonical(d).encode()).hexdigest()


# ---------------------------------------------------------------- validation

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _u64(v: Any, place: str, problems: list[str], lo: int = 0, hi: int = INDEX_SPACE - 1,
         allow_hex: bool = False) -> int | None:
    if allow_hex and isinstance(v, str):
        s = v.strip().lower()
        if s.startswith("0x") and 2 < len(s) <= 18:
            try:
                v = int(s, 16)
            except ValueError:
                problems.append(f"{place}: {v!r} is not 0x-hex")
                return None
        else:
            problems.append(f"{place}: expected an integer or a \"0x...\" string of at most 16 hex digits, got {v!r}")
            return None
    if not _is_int(v):
        problems.append(f"{place}: expected an integer, got {json.dumps(v)}")
        return None
    if not lo <= v <= hi:
        problems.append(f"{place}: {v} is out of range [{lo}, {hi}]")
        return None
    return v


def validate(doc: Any) -> tuple[Bundle | None, list[str]]:
    """(bundle, []) for a good document, (None, problems) otherwise; never raises."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        return None, [f"$: expected a JSON object, got {type(doc).__name__}"]
    for k in doc:
        if k not in TOP_KEYS:
            problems.append(f"{k}: unknown key (known: {', '.join(TOP_KEYS)})")
    for k in ("seed", "ranges", "total"):
        if k not in doc:
            problems.append(f"{k}: missing")
    version = doc.get("version", BUNDLE_VERSION)
    if version != BUNDLE_VERSION:
        problems.append(f"version: {json.dumps(version)} is not supported (this is version {BUNDLE_VERSION})")
    seed = _u64(doc["seed"], "seed", problems, allow_hex=True) if "seed" in doc else None
    algorithm = doc.get("algorithm", "canonical")
    if algorithm not in ALGORITHMS:
        problems.append(f"algorithm: {json.dumps(algorithm)} is not one of {', '.join(ALGORITHMS)}")
        algorithm = "canonical"
    limit = INDEX_SPACES[algorithm]
    game = doc.get("game", "xor")
    if not isinstance(game, str):
        problems.append(f"game: expected a string, got {json.dumps(game)}")
    elif game != "xor":
        try:
            red = get_reduction(game)
            if algorithm not in red.algorithms:
                problems.append(f"game: {game} does not support algorithm {algorithm}")
            game = red.name  # the canonical spec: "fixed" and "fixed(depth=1048576)" are one game
        except InputError as e:
            problems.append(f"game: {e}")
    chunk_size = doc.get("chunk_size")
    if chunk_size is not None:
        chunk_size = _u64(chunk_size, "chunk_size", problems, lo=1)
    expected = doc.get("expected_xor")
    if expected is not None:
        expected = _u64(expected, "expected_xor", problems, allow_hex=True)
        if game != "xor":
            problems.append("expected_xor: only a bundle of game \"xor\" has an expected XOR")

    ranges: list[HostRange] = []
    raw = doc.get("ranges")
    if "ranges" in doc and (not isinstance(raw, list) or not raw):
        problems.append("ranges: expected a non-empty list of {host, start, count, polarity}")
        raw = []
    hosts_seen: dict[str, int] = {}
    spans: list[tuple[int, int, int]] = []  # (start, end, index)
    for i, r in enumerate(raw or []):
        place = f"ranges[{i}]"
        if not isinstance(r, dict):
            problems.append(f"{place}: expected an object, got {json.dumps(r)}")
            continue
        for k in r:
            if k not in RANGE_KEYS:
                problems.append(f"{place}.{k}: unknown key (known: {', '.join(RANGE_KEYS)})")
        for k in RANGE_KEYS:
            if k not in r:
                problems.append(f"{place}.{k}: missing")
        host = r.get("host")
        if "host" in r and (not isinstance(host, str) or not host.strip()):
            problems.append(f"{place}.host: expected a non-empty host name, got {json.dumps(host)}")
            host = None
        elif isinstance(host, str):
            if host in hosts_seen:
                problems.append(f"{place}.host: {host!r} already has ranges[{hosts_seen[host]}] (one range per host)")
            hosts_seen.setdefault(host, i)
        start = _u64(r["start"], f"{place}.start", problems, hi=limit - 1) if "start" in r else None
        count = _u64(r["count"], f"{place}.count", problems, lo=1, hi=limit) if "count" in r else None
        pol = _u64(r["polarity"], f"{place}.polarity", problems, hi=2) if "polarity" in r else None
        if start is not None and count is not None:
            if start + count > limit:
                problems.append(f"{place}: [{start}, {start + count}) runs past the end of the index space "
                                f"({index_space_text(algorithm)})")
            else:
                spans.append((start, start + count, i))
        if None not in (host, start, count, pol):
            ranges.append(HostRange(host, start, count, pol))
    spans.sort()
    for (s0, e0, i0), (s1, e1, i1) in pairwise(spans):
        if s1 < e0:
            problems.append(f"ranges[{i1}]: [{s1}, {e1}) overlaps ranges[{i0}] [{s0}, {e0})")
    if "total" in doc:
        total = _u64(doc["total"], "total", problems, lo=1, hi=INDEX_SPACE)
        if total is not None and raw and len(ranges) == len(raw):
            s = sum(r.count for r in ranges)
            if s != total:
                problems.append(f"total: {total} is not the sum of the ranges' counts ({s})")
    if problems:
        return None, problems
    return Bundle(seed, tuple(ranges), expected, algorithm, game, chunk_size), []


def parse_bundle(doc: Any) -> Bundle:
    bundle, problems = validate(doc)
    if problems:
        raise BundleError(problems)
    return bundle


def load_bundle(path: str) -> Bundle:
    """A validated bundle from a file ("-": standard input); an InputError naming the file for any problem."""
    doc = jsonfile.read(path, "bundle")
    name = "from standard input" if path == "-" else path
    try:
        return parse_bundle(doc)
    except BundleError as e:
        raise BundleError([f"bundle {name}: {p}" for p in e.problems]) from None


# ---------------------------------------------------------------- making bundles

def even_start(total: int, n: int, pos: int) -> int:
    """The one even split (gay.hy's rule): where position ``pos`` of ``n`` starts in [0, total).

    total // n each, the last position takes the remainder; even_start(total, n, n) is total.
    """
    return total if pos >= n else pos * (total // n)


def even_counts(total: int, n: int) -> list[int]:
    """The counts of :func:`even_start`'s split."""
    if n < 1 or total < n:
        raise InputError(f"cannot split {total} colors over {n} hosts (each needs at least one)")
    return [even_start(total, n, p + 1) - even_start(total, n, p) for p in range(n)]


def weighted_counts(total: int, weights: list[float]) -> list[int]:
    """Counts proportional to weights (colors/s), so every host finishes at the same time.

    Largest-remainder rounding: the counts sum to total exactly, and no host gets more
    than one color more than its exact share.
    """
    if not weights or any(not (w > 0 and math.isfinite(w)) for w in weights):
        raise InputError("every weight must be a positive finite number")
    top = max(weights)  # only the ratios matter; scaled to <= 1, their sum cannot overflow to inf
    weights = [w / top for w in weights]
    wsum = sum(weights)
    exact = [total * w / wsum for w in weights]
    counts = [int(x) for x in exact]
    left = total - sum(counts)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    # float rounding on huge totals may leave a few colors over or under: put them on the heaviest
    heaviest = max(range(len(weights)), key=lambda i: (weights[i], -i))
    counts[heaviest] += total - sum(counts)
    if any(c < 1 for c in counts):
        raise InputError(f"a weight is too small to get even one of {total} colors")
    return counts


def make_bundle(seed: int, total: int, hosts: list[str], weights: dict[str, float] | None = None,
                start: int = 0, algorithm: str = "canonical", game: str = "xor",
                chunk_size: int | None = None, expected_xor: int | None = None) -> Bundle:
    """Consecutive ranges from ``start``, in host order; polarity = position % 3 (gay.hy's rule)."""
    if len(set(hosts)) != len(hosts):
        raise InputError("a host is named twice")
    if weights is not None:
        missing = [h for h in hosts if h not in weights]
        if missing:
            raise InputError(f"no weight for host(s) {', '.join(missing)}")
        counts = weighted_counts(total, [float(weights[h]) for h in hosts])
    else:
        counts = even_counts(total, len(hosts))
    ranges, pos = [], start
    for i, (h, c) in enumerate(zip(hosts, counts, strict=True)):
        ranges.append({"host": h, "start": pos, "count": c, "polarity": i % 3})
        pos += c
    doc: dict[str, Any] = {"seed": seed, "algorithm": algorithm, "game": game, "ranges": ranges,
                           "total": total, "expected_xor": expected_xor}
    if chunk_size is not None:
        doc["chunk_size"] = chunk_size
    return parse_bundle(doc)


# ---------------------------------------------------------------- NashProp

def nashprop_order(seed: int, members: Iterable[str]) -> list[str]:
    """The members in NashProp order: sorted by mix(seed ^ fnv1a(name)), name breaking ties.

    A permutation of the member list, the same on every member that knows (seed, members);
    positions are distinct by construction, unlike gay.hy's fnv1a(name) % N, where two hosts
    can land on one position.  The seed reshuffles who gets which part of the space.
    """
    names = list(members)
    if len(set(names)) != len(names):
        raise InputError("a member is named twice")
    return sorted(names, key=lambda h: (mix((seed ^ fnv1a(h)) & MASK64), h))


def nashprop_bundle(seed: int, members: Iterable[str], total: int, **kw: Any) -> Bundle:
    """The bundle every member derives alone from (seed, member list, total)."""
    return make_bundle(seed, total, nashprop_order(seed, members), **kw)


def weights_from_doc(doc: Any) -> dict[str, float]:
    """Host weights from JSON: {"host": colors_per_second, ...}, {"weights": {...}},
    or an `exo-gay mine --json` report (its per-host measured colors/s)."""
    if isinstance(doc, dict) and isinstance(doc.get("weights"), dict):
        doc = doc["weights"]
    if isinstance(doc, dict) and isinstance(doc.get("hosts"), list):
        out = {}
        for h in doc["hosts"]:
            if isinstance(h, dict) and isinstance(h.get("host"), str) and h.get("colors_per_second"):
                out[h["host"]] = float(h["colors_per_second"])
        return out
    if isinstance(doc, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in doc.values()):
        return {str(k): float(v) for k, v in doc.items()}
    raise InputError("expected {host: colors_per_second}, {\"weights\": {...}} or an `exo-gay mine --json` report")
