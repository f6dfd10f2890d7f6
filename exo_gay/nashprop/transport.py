"""NashProp over eclipse-zenoh: peer mode, scouting on the seed's port, liveliness for membership.

Every key lives under exo-gay/nashprop/<session>/, so runs with different sessions (seed, total
and a token) share a network without seeing each other:
  m/<name>/<public key>[/<mac>]  liveliness token: the member is up (its disappearance: it is gone);
                          the MAC (with a shared key) proves the key holder declared it
  to/<name>/<sender>      what is sent to one member (records and summaries, signed by the sender)
  audit/<name>            queryable: the member's audit answers
  view/<name>             queryable: the member set this member settled on (--expect)
  accuse/<sender>         accusations, to everyone
"""

from __future__ import annotations

import json
import logging
import re
from typing import Callable

import zenoh

from ..errors import InputError
from ..spi import MESH_PORT

log = logging.getLogger(__name__)
PREFIX = "exo-gay/nashprop"
SCOUT_ADDRESS = f"224.0.0.224:{MESH_PORT}"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_ENDPOINT = re.compile(r"^(tcp|udp|quic|tls)/[^\s\"]+:\d+$")


def check_name(name: str, what: str = "member name") -> str:
    if not _NAME.match(name):
        raise InputError(f"{what} {name!r}: use letters, digits, '.', '_' or '-' (at most 63, not first)")
    return name


def check_endpoint(ep: str) -> str:
    if not _ENDPOINT.match(ep):
        raise InputError(f"endpoint {ep!r}: expected like tcp/127.0.0.1:7447")
    return ep


def config(listen: list[str], connect: list[str], scout: bool, interface: str = "lo",
           address: str = SCOUT_ADDRESS, auth: tuple[str, str, str] | None = None) -> zenoh.Config:
    """zenoh's configuration; ``auth`` (user, password, dictionary file) turns on zenoh's usrpwd
    authentication, so that a peer without the run's key cannot even open a session with us
    (nor relay anything: gossip, tokens)."""
    c = zenoh.Config()
    if auth is not None:
        user, password, dictionary = auth
        c.insert_json5("transport/auth/usrpwd/user", json.dumps(user))
        c.insert_json5("transport/auth/usrpwd/password", json.dumps(password))
        c.insert_json5("transport/auth/usrpwd/dictionary_file", json.dumps(dictionary))
    c.insert_json5("mode", '"peer"')
    c.insert_json5("listen/endpoints", json.dumps(listen))
    c.insert_json5("connect/endpoints", json.dumps(connect))
    c.insert_json5("scouting/multicast/enabled", "true" if scout else "false")
    if scout:
        c.insert_json5("scouting/multicast/address", json.dumps(address))
        c.insert_json5("scouting/multicast/interface", json.dumps(interface))
    return c


def _with_sender(cb: Callable[[str, bytes], None]) -> Callable:
    def on(sample) -> None:
        cb(str(sample.key_expr).rsplit("/", 1)[-1], sample.payload)
    return on


def _short(e: Exception) -> str:
    """zenoh's message without the Rust source locations (" at /root/.cargo/...rs:61.")."""
    return re.sub(r"\s+at \S+\.rs:\d+\.?", "", str(e)).replace("[", "").replace("]", "").strip()


class Bus:
    """One member's zenoh session under one session prefix."""

    def __init__(self, session_id: str, name: str, cfg: zenoh.Config):
        self.root = f"{PREFIX}/{session_id}"
        self.name = name
        try:
            self.z = zenoh.open(cfg)
        except zenoh.ZError as e:  # nothing started yet: an endpoint in use, an address not here
            raise InputError(f"zenoh could not open a session: {_short(e)}") from None
        self._keep: list = []

    def close(self) -> None:
        for obj in self._keep:
            try:
                obj.undeclare()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        try:
            self.z.close()
        except zenoh.ZError as e:  # e.g. "close operation timed out" with a peer cut off: the
            # run's result is already decided, and the process exits anyway
            log.warning("%s: zenoh session did not close cleanly: %s", self.name, _short(e))

    # membership
    def announce(self, public_hex: str, mac: str | None = None) -> None:
        tail = f"/{mac}" if mac else ""
        self._keep.append(self.z.liveliness().declare_token(f"{self.root}/m/{self.name}/{public_hex}{tail}"))

    def watch_members(self, cb: Callable[[str, str, bool, str | None], None]) -> None:
        """``cb(name, public key, up, mac or None)`` for every token under m/ (with history)."""
        depth = len(self.root.split("/")) + 1

        def on(sample) -> None:
            parts = str(sample.key_expr).split("/")[depth:]
            if len(parts) in (2, 3):
                cb(parts[0], parts[1], sample.kind == zenoh.SampleKind.PUT, parts[2] if len(parts) == 3 else None)
        self._keep.append(self.z.liveliness().declare_subscriber(f"{self.root}/m/**", on, history=True))

    def token_present(self, name: str, public_hex: str, mac: str | None, timeout: float) -> bool:
        """Does the member's token answer a liveliness query now? (zenoh may report a token gone
        while it lives: one of two routes to it closed)"""
        tail = f"/{mac}" if mac else ""
        replies = self.z.liveliness().get(f"{self.root}/m/{name}/{public_hex}{tail}", timeout=timeout)
        return any(reply.ok is not None for reply in replies)

    # point to point (over pub/sub): the sender's name is the last chunk of the key, so a
    # message can be refused (unknown sender, too large, sender's queue full) before parsing
    def listen(self, cb: Callable[[str, bytes], None]) -> None:
        self._keep.append(self.z.declare_subscriber(f"{self.root}/to/{self.name}/*", _with_sender(cb)))

    def send(self, name: str, data: bytes) -> None:
        self.z.put(f"{self.root}/to/{name}/{self.name}", data)

    # broadcast
    def on_accuse(self, cb: Callable[[str, bytes], None]) -> None:
        self._keep.append(self.z.declare_subscriber(f"{self.root}/accuse/*", _with_sender(cb)))

    def accuse(self, data: bytes) -> None:
        self.z.put(f"{self.root}/accuse/{self.name}", data)

    # queries
    def serve(self, what: str, handler: Callable[[bytes], bytes | None]) -> None:
        key = f"{self.root}/{what}/{self.name}"

        def on(query) -> None:
            try:
                payload = query.payload.to_bytes() if query.payload is not None else b""
                out = handler(payload)
                if out is not None:
                    query.reply(key, out)
            except Exception:  # noqa: BLE001 - a bad query must not kill the member
                log.debug("query on %s failed", what, exc_info=True)
        self._keep.append(self.z.declare_queryable(key, on))

    def ask(self, what: str, name: str, payload: bytes, timeout: float) -> list[tuple[str, bytes]]:
        """Replies as (member name, bytes); ``name`` may be '*' for everyone."""
        out = []
        for reply in self.z.get(f"{self.root}/{what}/{name}", payload=payload, timeout=timeout):
            if reply.ok is not None:
                out.append((str(reply.ok.key_expr).rsplit("/", 1)[-1], reply.ok.payload.to_bytes()))
        return out
