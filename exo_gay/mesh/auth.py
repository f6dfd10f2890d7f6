"""Authentication of every mesh message: a shared HMAC key, or an Ed25519 key pair per node.

A MAC (or signature) covers the method name, timestamp, nonce, signer, destination node id,
the destination miner's boot id, the nonce of the request being answered, and the whole
message (serialised deterministically with its ``auth`` field cleared).  A request is thus
bound to one miner process: replayed to another node, or to the same node after it restarted
(a new random boot id), it is refused; within one boot, a nonce is accepted once per window.

Shared key (``HmacAuth``): one secret for the cluster, the simple option, with its limits:
every key holder can speak for every node and as the coordinator (a miner can frame another
miner, or command work).  Key pairs (``Ed25519Auth``, PyNaCl, recommended): each node signs
with its own secret key and the cluster file names every node's public key, so a node's
answers can only come from that node, and only the keys under ``gay.coordinators``
(``commanders``) may command Mine and Audit.  Colors are public: nothing is encrypted.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import logging
import os
import secrets
import threading
import time
from typing import Any

from ..clusterfile import is_hex, public_key_text
from ..errors import InputError

log = logging.getLogger(__name__)

WINDOW_S = 60.0  # a message older or newer than this is refused
NONCE_BYTES = 16
MIN_KEY_BYTES = 16
SECRET_PREFIX = "ed25519-secret:"
COMMANDS = ("Mine", "Audit")  # the methods that make a miner work: coordinators only (Ed25519)


class AuthError(Exception):
    """A message that is not authentic, stale, replayed, or meant for someone else."""


def _payload(method: str, msg: Any, request_nonce: bytes) -> bytes:
    a = msg.auth
    copy = type(msg)()
    copy.CopyFrom(msg)
    copy.ClearField("auth")
    parts = (b"exo-gay/mesh/1", method.encode(), a.timestamp_ms.to_bytes(8, "big"), a.nonce,
             a.signer.encode(), a.destination.encode(), a.boot_id, request_nonce,
             copy.SerializeToString(deterministic=True))
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)  # length-prefixed: unambiguous


class HmacAuth:
    """The shared-secret mode: HMAC-SHA256 with one key for the whole cluster."""

    mode = "hmac"

    def __init__(self, key: bytes, name: str = ""):
        if len(key) < MIN_KEY_BYTES:
            raise InputError(f"a shared key needs at least {MIN_KEY_BYTES} bytes, got {len(key)}")
        self.key, self.name = key, name

    def named(self, name: str) -> "HmacAuth":
        return HmacAuth(self.key, name)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self.key, payload, hashlib.sha256).digest()

    def seal(self, payload: bytes) -> bytes:
        return self._mac(payload)

    def check(self, signer: str, payload: bytes, mac: bytes) -> None:
        if not hmac.compare_digest(self._mac(payload), mac):
            raise AuthError("bad MAC (wrong key or altered message)")


class Ed25519Auth:
    """Per-node identity: sign with our own secret key, check others against known public keys."""

    mode = "ed25519"

    def __init__(self, seed: bytes, name: str = "", trusted: dict[str, bytes] | None = None,
                 commanders: frozenset[str] | None = None):
        from nacl.signing import SigningKey

        self._sk = SigningKey(seed)
        self._seed = seed
        self.name = name
        self.trusted = dict(trusted or {})
        # who may command Mine and Audit (the cluster file's coordinators); None: any trusted key
        self.commanders = None if commanders is None else frozenset(commanders)

    @property
    def public_key(self) -> bytes:
        return bytes(self._sk.verify_key)

    def named(self, name: str) -> "Ed25519Auth":
        return Ed25519Auth(self._seed, name, self.trusted, self.commanders)

    def seal(self, payload: bytes) -> bytes:
        return self._sk.sign(payload).signature

    def check(self, signer: str, payload: bytes, mac: bytes) -> None:
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey

        pub = self.trusted.get(signer)
        if pub is None:
            raise AuthError(f"signer {signer!r} has no public key in the cluster file")
        try:
            VerifyKey(pub).verify(payload, mac)
        except (BadSignatureError, ValueError, TypeError):
            raise AuthError(f"bad signature for {signer!r} (wrong key or altered message)") from None


def sign(auth: Any, method: str, msg: Any, destination: str = "", boot_id: bytes = b"",
         request_nonce: bytes = b"") -> Any:
    """Fill msg.auth in place (nothing without an authenticator); returns msg."""
    if auth is not None:
        a = msg.auth
        a.timestamp_ms, a.nonce = int(time.time() * 1000), os.urandom(NONCE_BYTES)
        a.signer, a.destination, a.boot_id = auth.name, destination, boot_id
        a.mac = auth.seal(_payload(method, msg, request_nonce))
    return msg


def check_reply(auth: Any, method: str, reply: Any, node_id: str, request_nonce: bytes) -> None:
    """A reply must be signed by the node we called (its own key in the Ed25519 mode)."""
    if auth is None:
        return
    if not reply.HasField("auth") or not reply.auth.mac:
        raise AuthError(f"{method}: no authentication")
    if reply.auth.signer != node_id:
        raise AuthError(f"{method}: signed by {reply.auth.signer!r}, not by {node_id!r}")
    auth.check(node_id, _payload(method, reply, request_nonce), reply.auth.mac)


class RequestGuard:
    """A miner's check of each request: MAC or signature, role, destination, boot id, window,
    nonce.  A nonce is remembered for as long as its timestamp is acceptable (until the
    timestamp plus the window), so a request stamped in the future cannot be replayed once
    its nonce would otherwise be forgotten; when ``max_nonces`` live nonces are held, new
    requests are refused rather than an old nonce forgotten early."""

    def __init__(self, auth: Any, node_id: str, boot_id: bytes, window_s: float = WINDOW_S,
                 max_nonces: int = 1 << 20):
        self.auth, self.node_id, self.boot_id = auth, node_id, boot_id
        self.window_s, self.max_nonces = window_s, max_nonces
        self._seen: set[bytes] = set()
        self._expiry: list[tuple[float, bytes]] = []  # heap of (when the nonce may be forgotten, nonce)
        self._lock = threading.Lock()

    def verify(self, method: str, msg: Any, any_boot: bool = False) -> str:
        """The signer's name; AuthError (and a log line) if the request is refused."""
        try:
            return self._verify(method, msg, any_boot)
        except AuthError as e:
            log.warning("refused %s request: %s", method, e)
            raise

    def _verify(self, method: str, msg: Any, any_boot: bool) -> str:
        if not msg.HasField("auth") or not msg.auth.mac:
            raise AuthError(f"{method}: no authentication (this miner requires it)")
        a = msg.auth
        now = time.time()
        if abs(now - a.timestamp_ms / 1000.0) > self.window_s:
            raise AuthError(f"{method}: timestamp outside the {self.window_s:.0f} s window (stale or replayed)")
        if a.destination != self.node_id:
            raise AuthError(f"{method}: meant for node {a.destination!r}, this is {self.node_id!r}")
        if a.boot_id != self.boot_id and not (any_boot and not a.boot_id):
            raise AuthError(f"{method}: for another boot of this miner (replayed across a restart?)")
        self.auth.check(a.signer, _payload(method, msg, b""), a.mac)
        commanders = getattr(self.auth, "commanders", None)
        if method in COMMANDS and commanders is not None and a.signer not in commanders:
            raise AuthError(f"{method}: {a.signer!r} is not a coordinator of the cluster file (gay.coordinators)")
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                self._seen.discard(heapq.heappop(self._expiry)[1])
            if a.nonce in self._seen:
                raise AuthError(f"{method}: nonce already used (replayed message)")
            if len(self._seen) >= self.max_nonces:
                raise AuthError(f"{method}: {self.max_nonces} requests within the window already (try later)")
            self._seen.add(a.nonce)
            heapq.heappush(self._expiry, (a.timestamp_ms / 1000.0 + self.window_s, a.nonce))
        return a.signer


# ---------------------------------------------------------------- key files

def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"key file {path}: no such file") from None
    except OSError as e:
        raise InputError(f"key file {path}: cannot read ({e.__class__.__name__})") from None


KEY_FORMAT = "one line, as exo-gay keygen writes: 32+ hex digits, or ed25519-secret:<64 hex digits>"


def _one_line(path: str) -> str:
    """A key file's only line, surrounding whitespace stripped; InputError for anything else
    (a README, a binary file, a public key): a key file has a recognisable format."""
    data = _read(path)
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        text = "\n\n"
    if not text or "\n" in text or len(text) > 200:
        raise InputError(f"key file {path}: not a key file (expected {KEY_FORMAT})")
    return text


def load_key(path: str) -> bytes:
    """A shared key file: one line of hex (>= 32 hex digits, so >= MIN_KEY_BYTES bytes);
    InputError if missing or of any other form."""
    text = _one_line(path)
    if not is_hex(text):
        raise InputError(f"key file {path}: not a shared key (expected {KEY_FORMAT})")
    data = bytes.fromhex(text)
    if len(data) < MIN_KEY_BYTES:
        raise InputError(f"key file {path}: a key needs at least {MIN_KEY_BYTES} bytes, got {len(data)}")
    return data


def load_authenticator(path: str, name: str = "", trusted: dict[str, bytes] | None = None,
                       commanders: frozenset[str] | None = None) -> Any:
    """HmacAuth for a shared key file, Ed25519Auth for a secret key file written by keygen."""
    text = _one_line(path)
    if text.startswith(SECRET_PREFIX):
        hexseed = text[len(SECRET_PREFIX):]
        if len(hexseed) != 64 or not is_hex(hexseed):
            raise InputError(f"key file {path}: a malformed Ed25519 secret key")
        return Ed25519Auth(bytes.fromhex(hexseed), name, trusted, commanders)
    return HmacAuth(load_key(path), name)


def keygen(path: str, shared: bool = False) -> str:
    """Write a new key file (mode 0600, never over an existing file); returns what to publish:
    the public key text for a key pair, or "" for a shared key."""
    if shared:
        text, public = secrets.token_hex(32), ""
    else:
        from nacl.signing import SigningKey

        sk = SigningKey.generate()
        text, public = SECRET_PREFIX + bytes(sk).hex(), public_key_text(bytes(sk.verify_key))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{path}: exists (a key is never overwritten)") from None
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text + "\n")
    return public
