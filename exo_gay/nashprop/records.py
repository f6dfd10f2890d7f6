"""Signed NashProp messages: piece records with their audit roots, audit answers, accusations.

A piece record commits to one piece of a position's range: its XOR and the audit.build root over
its leaves, signed (Ed25519, PyNaCl) by the member that mined it. Envelopes are canonical JSON
signed whole; the signer's public key is the one in its liveliness token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from .. import audit, jsonfile
from ..errors import InputError

MAX_MESSAGE = 1 << 20
MIN_KEY_BYTES = 16


def loads(data: bytes | str, what: str) -> Any:
    """JSON of at most MAX_MESSAGE bytes with the standard parser (C); InputError on anything
    malformed, too large or too deeply nested (the parser's recursion bound)."""
    if len(data) > MAX_MESSAGE:
        raise InputError(f"{what}: {len(data)} bytes (at most {MAX_MESSAGE})")
    try:
        return json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise InputError(f"{what}: malformed JSON") from None


def canonical(obj: Any) -> bytes:
    return jsonfile.canonical(obj).encode()


class Identity:
    """A member's signing key, fresh for each run."""

    def __init__(self, key: SigningKey | None = None):
        self.key = key or SigningKey.generate()

    @property
    def public_hex(self) -> str:
        return self.key.verify_key.encode().hex()

    def seal(self, body: dict) -> bytes:
        data = canonical(body)
        return canonical({"body": data.decode(), "sig": self.key.sign(data).signature.hex()})


def sign_tagged(identity: "Identity", tag: str, session: str, data: bytes) -> str:
    """A signature over ``b"nashprop-<tag>\\0" + session + b"\\0" + data`` (tag: summary, final)."""
    return identity.key.sign(f"nashprop-{tag}\0{session}\0".encode() + data).signature.hex()


def tagged_signed(public_hex: str | None, tag: str, session: str, data: bytes, sig_hex: Any) -> bool:
    if public_hex is None or not isinstance(sig_hex, str):
        return False
    try:
        VerifyKey(bytes.fromhex(public_hex)).verify(f"nashprop-{tag}\0{session}\0".encode() + data,
                                                    bytes.fromhex(sig_hex))
        return True
    except (BadSignatureError, ValueError, TypeError):
        return False


def sign_summary(identity: "Identity", session: str, data: bytes) -> str:
    """A signature over one summary alone, so a parent can pass it on without nesting envelopes."""
    return sign_tagged(identity, "summary", session, data)


def summary_signed(public_hex: str | None, session: str, data: bytes, sig_hex: Any) -> bool:
    return tagged_signed(public_hex, "summary", session, data, sig_hex)


def member_mac(key: bytes, session: str, name: str, public_hex: str) -> str:
    """The membership proof in a liveliness token when the run has a shared key: HMAC-SHA256
    of ``b"nashprop-member\\0" + session + b"\\0" + name + b"\\0" + public key hex``, first 16 bytes, hex."""
    msg = f"nashprop-member\0{session}\0{name}\0{public_hex}".encode()
    return hmac.new(key, msg, hashlib.sha256).digest()[:16].hex()


def zenoh_password(key: bytes, session: str) -> str:
    """zenoh's usrpwd password for a run with a shared key (user ``exo-gay``): the first 16 bytes,
    hex, of HMAC-SHA256(key, ``b"nashprop-zenoh\\0" + session``)."""
    return hmac.new(key, f"nashprop-zenoh\0{session}".encode(), hashlib.sha256).digest()[:16].hex()


def mac_holds(key: bytes, session: str, name: str, public_hex: str, mac: str) -> bool:
    return hmac.compare_digest(member_mac(key, session, name, public_hex), mac)


def load_key(path: str) -> bytes:
    """A shared key file, the format of `exo-gay keygen --shared`: hex text (at least 32 hex
    digits) or raw bytes, surrounding whitespace stripped; InputError when unreadable or short."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16).strip()
    except OSError as e:
        raise InputError(f"--key-file {path}: {e.strerror}") from None
    if data.startswith(SECRET_PREFIX):
        return data
    try:
        text = data.decode("ascii")
        if len(text) >= 32 and len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
            data = bytes.fromhex(text)
    except UnicodeDecodeError:
        pass
    if len(data) < MIN_KEY_BYTES:
        raise InputError(f"--key-file {path}: expected a shared key (exo-gay keygen --shared), "
                         f"at least {MIN_KEY_BYTES} bytes, or a key pair's secret (exo-gay keygen)")
    return data


SECRET_PREFIX = b"ed25519-secret:"


def secret_seed(data: bytes, path: str) -> bytes | None:
    """The 32-byte seed of a key pair's secret file (`exo-gay keygen`), None for a shared key."""
    if not data.startswith(SECRET_PREFIX):
        return None
    text = data[len(SECRET_PREFIX):].decode("ascii", "replace")
    if len(text) != 64 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise InputError(f"--key-file {path}: a malformed Ed25519 secret key")
    return bytes.fromhex(text)


def open_envelope(data: bytes, public_hex: str | None) -> dict:
    """The body of a sealed envelope, after checking its signature with ``public_hex``;
    InputError when it is malformed or the signature does not hold."""
    if len(data) > MAX_MESSAGE:
        raise InputError(f"a message of {len(data)} bytes")
    env = loads(data, "NashProp message")
    if not isinstance(env, dict) or not isinstance(env.get("body"), str) or not isinstance(env.get("sig"), str):
        raise InputError("NashProp message: expected {body, sig}")
    if public_hex is None:
        raise InputError("NashProp message from a member with no known key")
    try:
        VerifyKey(bytes.fromhex(public_hex)).verify(env["body"].encode(), bytes.fromhex(env["sig"]))
    except (BadSignatureError, ValueError):
        raise InputError("NashProp message: bad signature") from None
    body = loads(env["body"], "NashProp message body")
    if not isinstance(body, dict):
        raise InputError("NashProp message body: expected an object")
    return body


def context(session: str, miner: str) -> bytes:
    """The audit tree's context: binds leaves to the session and to who mined them."""
    return f"nashprop\0{session}\0{miner}".encode()


@dataclass(frozen=True)
class PieceRecord:
    """Piece j of position ``of``'s range, [start, start+count), mined by ``miner``."""

    miner: str
    of: int
    j: int
    start: int
    count: int
    n_leaves: int
    xor: int
    root: bytes

    def to_json(self) -> dict:
        return {"miner": self.miner, "of": self.of, "j": self.j, "start": self.start, "count": self.count,
                "n_leaves": self.n_leaves, "xor": f"{self.xor:016x}", "root": self.root.hex()}

    @classmethod
    def from_json(cls, d: Any) -> "PieceRecord":
        try:
            rec = cls(str(d["miner"]), int(d["of"]), int(d["j"]), int(d["start"]), int(d["count"]),
                      int(d["n_leaves"]), int(d["xor"], 16), bytes.fromhex(d["root"]))
        except (KeyError, TypeError, ValueError):
            raise InputError("NashProp record: malformed") from None
        if len(rec.root) != 32 or rec.count < 1 or rec.n_leaves < 1 or not 0 <= rec.xor < 1 << 64:
            raise InputError("NashProp record: out of range")
        return rec


def piece_ranges(start: int, count: int, pieces: int) -> list[tuple[int, int]]:
    """The fixed grid of a position's range: every member cuts it alike."""
    return audit.leaf_ranges(start, count, pieces)


def make_record(session: str, miner: str, of: int, j: int, start: int, count: int,
                leaf_values: list[int]) -> tuple[PieceRecord, audit.Tree]:
    tree = audit.build(context(session, miner), start, count, leaf_values)
    return PieceRecord(miner, of, j, start, count, tree.n_leaves, tree.value, tree.root), tree


def answer(tree: audit.Tree, leaves: list[int]) -> dict:
    """An audit answer: each asked leaf's value and path."""
    out = []
    for k in leaves:
        out.append({"k": k, "value": f"{tree.leaf_value(k):016x}",
                    "path": [[d.hex(), f"{v:016x}"] for d, v in tree.path(k)]})
    return {"leaves": out}


def parse_answer(d: Any) -> dict[int, tuple[int, list[tuple[bytes, int]]]]:
    try:
        out = {}
        for item in d["leaves"]:
            out[int(item["k"])] = (int(item["value"], 16),
                                   [(bytes.fromhex(h), int(v, 16)) for h, v in item["path"]])
        return out
    except (KeyError, TypeError, ValueError):
        raise InputError("NashProp audit answer: malformed") from None


def check_leaf(session: str, rec: PieceRecord, k: int, value: int, path: list[tuple[bytes, int]]) -> bool:
    """True when (value, path) leads to the record's signed root: the miner committed to it."""
    return audit.verify_path(context(session, rec.miner), rec.start, rec.count, rec.n_leaves, rec.root,
                             rec.xor, k, value, path)
