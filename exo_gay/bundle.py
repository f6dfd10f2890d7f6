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
import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated, Any, Iterable, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
)

from . import jsonfile, schema
from .clusterfile import RESERVED_NAME as COORDINATOR  # the coordinator's name: never a bundle's host
from .errors import InputError
from .gayhy import ALGORITHMS, INDEX_SPACES, index_space_text
from .registry import get_reduction
from .spi import INDEX_SPACE, MASK64, fnv1a, hex64, mix

BUNDLE_VERSION = 1
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

def _hex_or_int(v: Any) -> Any:
    """A 64-bit value may be written "0x..." (at most 16 hex digits); integers pass on to the bounds."""
    if not isinstance(v, str):
        return v
    s = v.strip().lower()
    if not (s.startswith("0x") and 2 < len(s) <= 18):
        raise ValueError(f"expected an integer or a \"0x...\" string of at most 16 hex digits, got {v!r}")
    try:
        return int(s, 16)
    except ValueError:
        raise ValueError(f"{v!r} is not 0x-hex") from None


def _host_name(v: str) -> str:
    if not v.strip():
        raise ValueError("expected a non-empty host name")
    if v != v.strip():
        raise ValueError(f"{v!r} is padded with white space")
    if v == COORDINATOR:
        raise ValueError(f"{COORDINATOR} is reserved for the coordinator")
    return v


U64 = Annotated[StrictInt, Field(ge=0, le=MASK64)]
HexU64 = Annotated[U64, BeforeValidator(_hex_or_int)]


class _RangeDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: Annotated[StrictStr, AfterValidator(_host_name)]
    start: U64
    count: Annotated[StrictInt, Field(ge=1, le=INDEX_SPACE)]
    polarity: Annotated[StrictInt, Field(ge=0, le=2)]


class _TopDoc(BaseModel):
    """The document's fields but ``ranges`` (each range is a _RangeDoc of its own, so one bad
    range does not hide the others' problems); what spans fields is checked after."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = BUNDLE_VERSION
    seed: HexU64
    algorithm: Literal[ALGORITHMS] = "canonical"  # type: ignore[valid-type]
    game: StrictStr = "xor"
    chunk_size: Annotated[StrictInt, Field(ge=1, le=MASK64)] | None = None
    total: Annotated[StrictInt, Field(ge=1, le=INDEX_SPACE)]
    expected_xor: HexU64 | None = None


def _game(doc: _TopDoc, problems: list[str]) -> str:
    """The game's canonical spec ("fixed" and "fixed(depth=1048576)" are one game)."""
    if doc.game == "xor":
        return "xor"
    try:
        red = get_reduction(doc.game)
    except InputError as e:
        problems.append(f"game: {e}")
        return doc.game
    if doc.algorithm not in red.algorithms:
        problems.append(f"game: {doc.game} does not support algorithm {doc.algorithm}")
    if doc.expected_xor is not None:
        problems.append("expected_xor: only a bundle of game \"xor\" has an expected XOR")
    return red.name


def _range_problems(ranges: list[_RangeDoc | None], algorithm: str) -> list[str]:
    """One range per host (names that differ only by white space are one host), no overlaps,
    every range inside the algorithm's index space."""
    problems: list[str] = []
    hosts_seen: dict[str, int] = {}
    spans = []
    for i, r in enumerate(ranges):
        if r is None:
            continue
        key = "".join(r.host.split())
        if key in hosts_seen:
            problems.append(f"ranges[{i}].host: {r.host!r} is ranges[{hosts_seen[key]}]'s host "
                            f"(one range per host; white space does not tell hosts apart)")
        hosts_seen.setdefault(key, i)
        if r.start + r.count > INDEX_SPACES[algorithm]:
            problems.append(f"ranges[{i}]: [{r.start}, {r.start + r.count}) runs past the end of the index space "
                            f"({index_space_text(algorithm)})")
        spans.append((r.start, r.start + r.count, i))
    for (s0, e0, i0), (s1, e1, i1) in pairwise(sorted(spans)):
        if s1 < e0:
            problems.append(f"ranges[{i1}]: [{s1}, {e1}) overlaps ranges[{i0}] [{s0}, {e0})")
    return problems


def validate(doc: Any) -> tuple[Bundle | None, list[str]]:
    """(bundle, []) for a good document, (None, problems) otherwise; never raises.

    Every problem is reported with its place (``ranges[1].count``), so a bad bundle is fixed
    in one pass; the total is checked against the counts once every range is right.
    """
    if not isinstance(doc, dict):
        return None, [f"$: expected a JSON object, got {type(doc).__name__}"]
    problems: list[str] = []
    top = schema.check(_TopDoc, {k: v for k, v in doc.items() if k != "ranges"}, problems, known=TOP_KEYS)
    raw = doc.get("ranges")
    if "ranges" not in doc:
        problems.append("ranges: missing")
    elif not isinstance(raw, list) or not raw:
        problems.append("ranges: expected a non-empty list of {host, start, count, polarity}")
    raw = raw if isinstance(raw, list) else []
    ranges = [schema.check(_RangeDoc, r, problems, ("ranges", i)) for i, r in enumerate(raw)]
    algorithm = doc.get("algorithm") if doc.get("algorithm") in ALGORITHMS else "canonical"
    problems += _range_problems(ranges, algorithm)
    if top is None:
        return None, problems
    game = _game(top, problems)
    counted = sum(r.count for r in ranges if r)
    if raw and None not in ranges and counted != top.total:
        problems.append(f"total: {top.total} is not the sum of the ranges' counts ({counted})")
    if problems:
        return None, problems
    hosts = tuple(HostRange(r.host, r.start, r.count, r.polarity) for r in ranges)
    return Bundle(top.seed, hosts, top.expected_xor, top.algorithm, game, top.chunk_size), []


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
