"""The colour games (SPEC.md, "Colour games") as reductions that mine like fingerprints.

Each mined game is a commutative monoid over index ranges (an argmin with ties broken by the
smaller index), so any split of a range, computed in any order on any machine, combines to
the value of the whole, exactly like the XOR fingerprint (exo_gay/reductions.py):

- ``furthest``: the colour closest to fnv1a("gay") ^ 0xffff...ffff, i.e. with the fewest bits
  differing from it: argmin of popcount(c ^ TARGET) over the range.
- ``fixed(depth=D)``: the nearest thing to a fixed point of mix in the range, argmin of
  popcount(mix(c) ^ c), and a cycle probe (Brent, constant memory) along the derivation chain
  c, mix(c), mix(mix(c)), ... of that winner: does h_0..h_D contain a repeated value?

The third game, ``disguise``, is not mined: it hides a message under the three polarities'
fingerprints of a bundle (see the section at the end of this module).  A game, not
encryption: mix is invertible and the fingerprints are recomputable by anyone with the bundle.

Every function named ``*_reference`` is the pure-Python definition; the numba kernels
(exo_gay/kernels/games_numba.py) are checked against them on first use and in the tests.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any, Iterable

from . import spi
from .reductions import Reduction
from .spi import GOLDEN, MASK64, Polarity, color_at, fnv1a, hex64, mix, twisted_seed

NAMES = ("furthest", "fixed")

TARGET = fnv1a("gay") ^ MASK64  # the colour "furthest from gay": every bit of fnv1a("gay") flipped

DEFAULT_DEPTH = 1 << 20
MAX_DEPTH = 1 << 32  # a probe costs up to 3 * depth steps of mix (~3 ns each, one core)

# A piece's count must fit in a uint64 counter, and 2**64 itself does not.
_MAX_KERNEL_COUNT = 1 << 62


def popcount(x: int) -> int:
    return bin(x & MASK64).count("1")


# ---------------------------------------------------------------- pure-Python references

def furthest_reference(seed: int, start: int, count: int) -> tuple[int, int, int] | None:
    """(distance, index, colour) with the least popcount(colour ^ TARGET); ties: smallest index."""
    spi.check_range(start, count)
    best = None
    for i in range(start, start + count):
        c = color_at(seed, i)
        d = popcount(c ^ TARGET)
        if best is None or d < best[0]:
            best = (d, i, c)
    return best


def near_fixed_reference(seed: int, start: int, count: int) -> tuple[int, int, int] | None:
    """(distance, index, colour) with the least popcount(mix(colour) ^ colour); ties: smallest index."""
    spi.check_range(start, count)
    best = None
    for i in range(start, start + count):
        c = color_at(seed, i)
        d = popcount(mix(c) ^ c)
        if best is None or d < best[0]:
            best = (d, i, c)
    return best


def cycle_reference(h0: int, depth: int, mask: int = MASK64) -> tuple[int, int] | None:
    """The seed document's hunt, with a dict: (tail, length) if h_0..h_depth repeats, else None.

    h_{k+1} = mix(h_k) & mask.  The first repeat h_{tail+length} == h_tail exists within the
    first depth + 1 values exactly when tail + length <= depth.  O(depth) memory: reference only.
    """
    seen: dict[int, int] = {}
    h = h0 & mask
    for d in range(depth + 1):
        if h in seen:
            return seen[h], d - seen[h]
        seen[h] = d
        h = mix(h) & mask
    return None


# ---------------------------------------------------------------- fast paths

_checked = False
_check_lock = threading.Lock()


def _kernels():
    """The numba kernels, known-answer checked against the references once per process."""
    global _checked
    from .kernels import games_numba as k

    if not _checked:
        with _check_lock:
            if not _checked:
                failure = _self_check(k)
                if failure:
                    raise RuntimeError(f"games kernel FAILED its known-answer self-check ({failure}); refusing it")
                _checked = True
    return k


def _self_check(k) -> str | None:
    # Small ranges at the bottom, in the middle and at the very top of the index space.
    for seed, start, count in ((spi.IHOR_SEED, 0, 300), (0x6761795F636F6C6F, 1 << 63, 257),
                               (1, spi.INDEX_SPACE - 200, 200)):
        if _furthest_fast(k, seed, start, count) != furthest_reference(seed, start, count):
            return f"furthest seed={seed} start={start} count={count}"
        if _near_fixed_fast(k, seed, start, count) != near_fixed_reference(seed, start, count):
            return f"fixed seed={seed} start={start} count={count}"
    if _cycle_fast(k, 12345, 300, 0xFFF) != cycle_reference(12345, 300, 0xFFF):
        return "cycle probe"
    return None


def _scan(scan, seed: int, start: int, count: int, *extra) -> tuple[int, int, int] | None:
    import numpy as np

    best = None
    while count > 0:  # only a count near 2**64 needs more than one kernel call
        n = min(count, _MAX_KERNEL_COUNT)
        d, k = scan(np.uint64((seed + start * GOLDEN) & MASK64), np.uint64(n), *extra)
        cand = (int(d), start + int(k), color_at(seed, start + int(k)))
        best = cand if best is None or cand[:2] < best[:2] else best
        start, count = start + n, count - n
    return best


def _furthest_fast(k, seed: int, start: int, count: int):
    import numpy as np

    return _scan(k.furthest_scan, seed, start, count, np.uint64(TARGET))


def _near_fixed_fast(k, seed: int, start: int, count: int):
    return _scan(k.near_fixed_scan, seed, start, count)


def _cycle_fast(k, h0: int, depth: int, mask: int = MASK64) -> tuple[int, int] | None:
    import numpy as np

    # Brent detects a rho with tail mu and cycle lam within 2 * max(mu, lam) + lam <= 3 * depth
    # steps whenever mu + lam <= depth; checking the bound afterwards makes the answer exactly
    # cycle_reference's.
    found, tail, length = k.brent_cycle(np.uint64(h0 & mask), np.uint64(3 * depth), np.uint64(mask))
    if not found or int(tail) + int(length) > depth:
        return None
    return int(tail), int(length)


def furthest(seed: int, start: int, count: int) -> tuple[int, int, int] | None:
    """Fast path of furthest_reference on one core (releases the GIL)."""
    spi.check_u64("seed", seed)
    spi.check_range(start, count)
    return _furthest_fast(_kernels(), seed, start, count)


def near_fixed(seed: int, start: int, count: int) -> tuple[int, int, int] | None:
    """Fast path of near_fixed_reference on one core (releases the GIL)."""
    spi.check_u64("seed", seed)
    spi.check_range(start, count)
    return _near_fixed_fast(_kernels(), seed, start, count)


@functools.lru_cache(maxsize=64)
def cycle_probe(h0: int, depth: int) -> tuple[int, int] | None:
    """Fast path of cycle_reference(h0, depth): Brent, constant memory, at most 3 * depth mixes."""
    return _cycle_fast(_kernels(), h0, depth)


# ---------------------------------------------------------------- reductions

def _argmin(a, b):
    # Values are (distance, index, colour, ...) or None; (distance, index) decides, and equal
    # (distance, index) means the same colour, so this is a commutative, associative min.
    if a is None:
        return b
    if b is None:
        return a
    return a if a[:2] <= b[:2] else b


def _candidate_from_wire(w: Any, what: str) -> tuple[int, int, int] | None:
    if w is None:
        return None
    try:
        d, i, c = w["distance"], w["index"], w["color"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (d, i)):
            raise TypeError
        value = (d, i, int(c, 16) if isinstance(c, str) and c.lower().startswith("0x") else None)
    except (TypeError, KeyError, ValueError):
        raise ValueError(f"malformed {what} value: {w!r}") from None
    if value[2] is None or not 0 <= d <= 64 or not 0 <= i <= MASK64 or not 0 <= value[2] <= MASK64:
        raise ValueError(f"malformed {what} value: {w!r}")
    return value


def _candidate_to_wire(v: tuple[int, int, int] | None) -> dict | None:
    if v is None:
        return None
    return {"distance": v[0], "index": v[1], "color": hex64(v[2])}


FURTHEST = Reduction(
    name="furthest",
    identity=None,
    piece=lambda backend, seed, start, count, algorithm: furthest(seed, start, count),
    combine=_argmin,
    to_wire=_candidate_to_wire,
    from_wire=lambda w: _candidate_from_wire(w, "furthest"),
    algorithms=("canonical",),
)


def fixed_to_wire(v: tuple[int, int, int] | None, depth: int) -> dict | None:
    """The wire form of a fixed-game value; the cycle probe of the winner is derived here.

    The probe depends only on the winning colour and the depth, so it is run once per
    reported result instead of once per piece (the runner's pieces can be far cheaper
    than a deep probe).
    """
    w = _candidate_to_wire(v)
    if w is not None:
        cyc = cycle_probe(v[2], depth)
        w["cycle"] = None if cyc is None else {"tail": cyc[0], "length": cyc[1]}
    return w


@functools.lru_cache(maxsize=32)
def _fixed_reduction(depth: int) -> Reduction:
    return Reduction(
        name=f"fixed(depth={depth})",
        identity=None,
        piece=lambda backend, seed, start, count, algorithm: near_fixed(seed, start, count),
        combine=_argmin,
        to_wire=lambda v: fixed_to_wire(v, depth),
        from_wire=lambda w: _candidate_from_wire(w, "fixed"),  # "cycle" is derived: not trusted, recomputed
        algorithms=("canonical",),
    )


_SPEC = re.compile(r"^\s*([a-z_]+)\s*(?:\((.*)\))?\s*$")


def parse_spec(spec: str) -> tuple[str, dict[str, int]]:
    """"fixed(depth=64)" -> ("fixed", {"depth": 64}).  KeyError: unknown name; ValueError: bad params."""
    if not isinstance(spec, str):
        raise ValueError(f"a game spec is a string, got {spec!r}")
    m = _SPEC.match(spec)
    if not m:
        raise ValueError(f"malformed game spec {spec!r} (expected e.g. 'furthest' or 'fixed(depth=64)')")
    name, body = m.group(1), m.group(2)
    if name not in NAMES:
        raise KeyError(f"unknown game {name!r} (known: xor, {', '.join(NAMES)})")
    params: dict[str, int] = {}
    if body is not None and body.strip():
        for item in body.split(","):
            key, eq, val = item.partition("=")
            key, val = key.strip(), val.strip()
            if not eq or not key or key in params:
                raise ValueError(f"malformed parameter {item.strip()!r} in game spec {spec!r}")
            try:
                params[key] = int(val, 0)
            except ValueError:
                raise ValueError(f"game spec {spec!r}: {key} must be an integer, got {val!r}") from None
    return name, params


def reduction_for(spec: str) -> Reduction:
    """The Reduction for a game spec; its .name is the canonical spec ("fixed" -> "fixed(depth=1048576)")."""
    name, params = parse_spec(spec)
    if name == "furthest":
        if params:
            raise ValueError(f"game furthest takes no parameters, got {sorted(params)}")
        return FURTHEST
    unknown = set(params) - {"depth"}
    if unknown:
        raise ValueError(f"game fixed takes only depth, got {sorted(unknown)}")
    depth = params.get("depth", DEFAULT_DEPTH)
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"game fixed: depth must be in [1, {MAX_DEPTH}], got {depth}")
    return _fixed_reduction(depth)


def spec_depth(spec: str) -> int:
    name, params = parse_spec(spec)
    return params.get("depth", DEFAULT_DEPTH) if name == "fixed" else 0


# ---------------------------------------------------------------- game 3: triadic disguise
#
# The three shares are the three polarities' fingerprints F_0, F_1, F_2 of a bundle (the XOR
# of the colours of all ranges owned by that polarity).  Each F_p is stretched into a key
# stream K_p[j] = color_at(F_p ^ TWIST[p], j), and the published mask is
#     mask[j] = word[j] ^ K_0[j] ^ K_1[j] ^ K_2[j]
# where word[0] is the message's length in bytes, words 1.. its UTF-8 bytes (little-endian,
# zero-padded to whole words), and the last word fnv1a(bytes), which lets decode tell a
# right answer from a wrong one.  Any one or two fingerprints leave the third stream
# unknown, so the words stay hidden; all three reveal them.  A game, not encryption: the
# fingerprints are recomputable by anyone holding the bundle, mix is invertible, and the
# mask's length shows the message's length to within 8 bytes.

MAX_MESSAGE_BYTES = 4096
MASK_VERSION = 1


class DisguiseError(ValueError):
    """Fingerprints that do not open a mask, or a mask/bundle that is not well formed."""


def key_stream(fingerprints: Iterable[int], n: int) -> list[int]:
    fps = list(fingerprints)
    if len(fps) != 3:
        raise DisguiseError(f"the disguise needs all three polarities' fingerprints, got {len(fps)}")
    out = []
    for j in range(n):
        k = 0
        for p, f in enumerate(fps):
            k ^= color_at(twisted_seed(f, p), j)
        out.append(k)
    return out


def message_words(message: str) -> list[int]:
    data = message.encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        raise DisguiseError(f"message is {len(data)} bytes of UTF-8; the most is {MAX_MESSAGE_BYTES}")
    padded = data + b"\0" * (-len(data) % 8)
    body = [int.from_bytes(padded[j:j + 8], "little") for j in range(0, len(padded), 8)]
    return [len(data), *body, fnv1a(data)]


def encode_message(message: str, fingerprints: Iterable[int], seed: int | None = None) -> dict:
    """The mask (a JSON-able dict) that hides ``message`` under the three fingerprints."""
    words = message_words(message)
    keys = key_stream(fingerprints, len(words))
    mask = {"game": "disguise", "version": MASK_VERSION,
            "words": [hex64(w ^ k) for w, k in zip(words, keys)]}
    if seed is not None:
        mask["seed"] = seed
    return mask


def parse_mask(mask: Any) -> tuple[list[int], int | None]:
    """(masked words, seed or None) from a mask dict; DisguiseError if it is not one."""
    if not isinstance(mask, dict) or mask.get("game") != "disguise":
        raise DisguiseError('not a disguise mask (expected a JSON object with "game": "disguise")')
    if mask.get("version") != MASK_VERSION:
        raise DisguiseError(f"unsupported mask version {mask.get('version')!r} (this is version {MASK_VERSION})")
    words = mask.get("words")
    n_max = 2 + -(-MAX_MESSAGE_BYTES // 8)
    if not isinstance(words, list) or not 2 <= len(words) <= n_max:
        raise DisguiseError(f'mask "words" must be a list of 2 to {n_max} hex words')
    out = []
    for w in words:
        if not (isinstance(w, str) and re.fullmatch(r"0x[0-9a-fA-F]{1,16}", w)):
            raise DisguiseError(f"mask word {w!r} is not a 64-bit 0x-hex value")
        out.append(int(w, 16))
    seed = mask.get("seed")
    if seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MASK64):
        raise DisguiseError(f"mask seed {seed!r} is not a 64-bit integer")
    return out, seed


def decode_message(mask: Any, fingerprints: Iterable[int]) -> str:
    """The hidden message; DisguiseError if these fingerprints do not open this mask."""
    masked, _ = parse_mask(mask)
    words = [m ^ k for m, k in zip(masked, key_stream(fingerprints, len(masked)))]
    length, body, check = words[0], words[1:-1], words[-1]
    if length > 8 * len(body) or -(-length // 8) != len(body):
        raise DisguiseError("these fingerprints do not open this mask (length word does not fit)")
    data = b"".join(w.to_bytes(8, "little") for w in body)[:length]
    if fnv1a(data) != check:
        raise DisguiseError("these fingerprints do not open this mask (check word differs)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - the check word makes this ~2**-64
        raise DisguiseError("these fingerprints do not open this mask (not UTF-8)") from None


def bundle_polarity_ranges(bundle: Any) -> tuple[int, dict[int, list[tuple[int, int]]]]:
    """(seed, {polarity: [(start, count), ...]}) from a bundle document.

    The bundle is validated exactly as `exo-gay bundle check` does (exo_gay/bundle.py); on
    top of that the disguise needs canonical colours and all three polarities to own some.
    """
    from .bundle import BundleError, parse_bundle

    try:
        b = parse_bundle(bundle)
    except BundleError as e:
        raise DisguiseError(str(e)) from None
    if b.algorithm != "canonical":
        raise DisguiseError(f"the disguise uses canonical fingerprints; this bundle's algorithm is {b.algorithm}")
    by_p: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}
    for r in b.ranges:
        by_p[r.polarity].append((r.start, r.count))
    empty = [Polarity(p).name for p, rs in by_p.items() if not rs]
    if empty:
        raise DisguiseError(f"bundle gives no colours to polarity {', '.join(empty)}: the disguise needs all three")
    return b.seed, by_p


def polarity_fingerprints(seed: int, by_p: dict[int, list[tuple[int, int]]],
                          threads: int | None = None, on_progress=None) -> tuple[int, int, int]:
    """F_0, F_1, F_2: the XOR fingerprint of each polarity's ranges, on every core."""
    from .runner import reduce_range

    fps = []
    for p in (0, 1, 2):
        f = 0
        for start, count in by_p[p]:
            f ^= reduce_range(seed, start, count, threads=threads, on_progress=on_progress)
        fps.append(f)
    return fps[0], fps[1], fps[2]
