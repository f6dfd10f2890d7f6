"""The triadic disguise (docs/games.md, game 3): a message hidden under a bundle's three
polarities' fingerprints, recovered only with all three.  A game, not encryption.

The shares are F_0, F_1, F_2, the XOR fingerprints of the ranges each polarity owns.  Each
F_p is stretched into a key stream K_p[j] = color_at(F_p ^ TWIST[p], j), and the mask is
mask[j] = word[j] ^ K_0[j] ^ K_1[j] ^ K_2[j], where word[0] is the message's length in bytes,
the next words its UTF-8 bytes (little-endian, zero-padded) and the last word fnv1a(bytes),
which tells a right opening from a wrong one.  Anyone holding the bundle can recompute the
fingerprints, mix is invertible, and the mask's length shows the message's to within 8 bytes.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from .bundle import BundleError, parse_bundle
from .errors import InputError
from .runner import reduce_range
from .spi import MASK64, Polarity, color_at, fnv1a, hex64, twisted_seed

MAX_MESSAGE_BYTES = 4096
MASK_VERSION = 1


class DisguiseError(InputError):
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
            "words": [hex64(w ^ k) for w, k in zip(words, keys, strict=True)]}
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
    words = [m ^ k for m, k in zip(masked, key_stream(fingerprints, len(masked)), strict=True)]
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

    The bundle is validated as `exo-gay bundle check` does; on top of that the disguise
    needs canonical colors and all three polarities to own some.
    """
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
        raise DisguiseError(f"bundle gives no colors to polarity {', '.join(empty)}: the disguise needs all three")
    return b.seed, by_p


def polarity_fingerprints(seed: int, by_p: dict[int, list[tuple[int, int]]], threads: int | None = None,
                          on_progress=None, backend: Any = "auto") -> tuple[int, int, int]:
    """F_0, F_1, F_2: the XOR fingerprint of each polarity's ranges, on every core."""
    fps = []
    for p in (0, 1, 2):
        f = 0
        for start, count in by_p[p]:
            f ^= reduce_range(seed, start, count, threads=threads, on_progress=on_progress, backend=backend)
        fps.append(f)
    return fps[0], fps[1], fps[2]
