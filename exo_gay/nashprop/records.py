"""Signed NashProp messages: piece records with their audit roots, audit answers, accusations.

A piece record commits to one piece of a position's range: its XOR and the audit.build root over
its leaves, signed (Ed25519, PyNaCl) by the member that mined it. Envelopes are canonical JSON
signed whole; the signer's public key is the one in its liveliness token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from .. import audit, jsonfile
from ..errors import InputError
from ..jsonfile import loads

MAX_MESSAGE = 1 << 20


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


def sign_summary(identity: "Identity", session: str, data: bytes) -> str:
    """A signature over one summary alone, so a parent can pass it on without nesting envelopes."""
    return identity.key.sign(b"nashprop-summary\0" + session.encode() + b"\0" + data).signature.hex()


def summary_signed(public_hex: str | None, session: str, data: bytes, sig_hex: str) -> bool:
    if public_hex is None:
        return False
    try:
        VerifyKey(bytes.fromhex(public_hex)).verify(b"nashprop-summary\0" + session.encode() + b"\0" + data,
                                                    bytes.fromhex(sig_hex))
        return True
    except (BadSignatureError, ValueError):
        return False


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
