"""Shared-secret authentication of every mesh message: HMAC-SHA256, nonce and timestamp.

A request's MAC covers the method name, its timestamp and nonce and the whole message
(serialised deterministically with its ``auth`` field cleared), so the bundle hash, seed,
chunks, everything is bound.  A response's MAC also covers the nonce of the request it
answers, so an old response cannot be replayed into a new call.  The receiver refuses a
timestamp outside the window and a nonce it has already seen within it (replay).

Why not mTLS: a key file per cluster is one secret to copy, where mTLS needs a CA and a
certificate per node (and exo's own gRPC server, which our servicer shares, is plaintext);
HMAC also authenticates each message, not only the connection, and binds each result to the
request and bundle it answers.  It does not encrypt: colours are public by construction.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from typing import Any

WINDOW_S = 60.0  # a message older or newer than this is refused
NONCE_BYTES = 16


class AuthError(Exception):
    """A message that is not authentic, stale, or replayed."""


def load_key(path: str) -> bytes:
    """A key file: hex text (>= 32 hex digits) or raw bytes; UsageError if missing or empty."""
    from ..cliutil import UsageError

    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UsageError(f"key file {path}: no such file") from None
    except (IsADirectoryError, PermissionError) as e:
        raise UsageError(f"key file {path}: cannot read ({e.__class__.__name__})") from None
    text = data.strip()
    if not text:
        raise UsageError(f"key file {path}: empty")
    try:
        s = text.decode("ascii")
        if len(s) >= 32 and len(s) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in s):
            return bytes.fromhex(s)
    except UnicodeDecodeError:
        pass
    return data


def _body(msg: Any) -> bytes:
    copy = type(msg)()
    copy.CopyFrom(msg)
    copy.ClearField("auth")
    return copy.SerializeToString(deterministic=True)


def _mac(key: bytes, method: str, ts: int, nonce: bytes, request_nonce: bytes, body: bytes) -> bytes:
    h = hmac.new(key, digestmod=hashlib.sha256)
    for part in (method.encode(), ts.to_bytes(8, "big"), nonce, request_nonce, body):
        h.update(len(part).to_bytes(4, "big"))  # length-prefixed: no ambiguity between parts
        h.update(part)
    return h.digest()


def sign(key: bytes | None, method: str, msg: Any, request_nonce: bytes = b"") -> Any:
    """Fill msg.auth in place (nothing without a key); returns msg."""
    if key:
        ts = int(time.time() * 1000)
        nonce = os.urandom(NONCE_BYTES)
        mac = _mac(key, method, ts, nonce, request_nonce, _body(msg))
        msg.auth.timestamp_ms, msg.auth.nonce, msg.auth.mac = ts, nonce, mac
    return msg


class Verifier:
    """Checks MACs, the time window, and remembers nonces for the window (replay cache)."""

    def __init__(self, key: bytes, window_s: float = WINDOW_S, max_nonces: int = 1 << 20):
        self.key = key
        self.window_s = window_s
        self.max_nonces = max_nonces
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, method: str, msg: Any, request_nonce: bytes = b"", remember: bool = True) -> None:
        if not msg.HasField("auth") or not msg.auth.mac:
            raise AuthError(f"{method}: no authentication (a key is required)")
        a = msg.auth
        now = time.time()
        if abs(now - a.timestamp_ms / 1000.0) > self.window_s:
            raise AuthError(f"{method}: timestamp outside the {self.window_s:.0f} s window (stale or replayed)")
        expected = _mac(self.key, method, a.timestamp_ms, a.nonce, request_nonce, _body(msg))
        if not hmac.compare_digest(expected, a.mac):
            raise AuthError(f"{method}: bad MAC (wrong key or altered message)")
        if remember:
            with self._lock:
                while self._seen and (next(iter(self._seen.values())) < now - self.window_s
                                      or len(self._seen) >= self.max_nonces):
                    self._seen.popitem(last=False)
                if a.nonce in self._seen:
                    raise AuthError(f"{method}: nonce already used (replayed message)")
                self._seen[a.nonce] = now
