"""The one parser of exo's manual-discovery cluster file, with exo-gay's optional fields.

    {"peers": {"<node_id>": {"address": "127.0.0.1", "port": 50051,
                             "device_capabilities": {...},
                             "gay": {"public_key": "ed25519:<hex>", ...}}},
     "gay": {"coordinators": {"<name>": "ed25519:<hex>"}}}

exo reads ``peers``, ``address``, ``port`` and ``device_capabilities`` and ignores the
``gay`` objects; exo-gay keeps its own fields there (a node's public key, a measured speed).
For exo, ``port`` is the node's gRPC port (the exo plugin registers our miner on that
server); a standalone ``exo-gay serve`` uses its own port, written in the same file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import jsonfile
from .errors import InputError

PUBLIC_PREFIX = "ed25519:"


@dataclass(frozen=True)
class PeerEntry:
    node_id: str
    host: str
    port: int
    device_capabilities: dict = field(default_factory=dict)
    gay: dict = field(default_factory=dict)  # exo-gay's own fields, as written
    public_key: bytes | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ClusterFile:
    peers: tuple[PeerEntry, ...]
    coordinators: dict[str, bytes] = field(default_factory=dict)  # name -> Ed25519 public key

    def public_keys(self) -> dict[str, bytes]:
        """Every known signer: the peers with a key, then the coordinators."""
        keys = {p.node_id: p.public_key for p in self.peers if p.public_key}
        keys.update(self.coordinators)
        return keys


def _is_hex(s: str) -> bool:
    return bool(s) and all(c in "0123456789abcdefABCDEF" for c in s)


def parse_public_key(text: Any, where: str) -> bytes:
    """An Ed25519 public key as the cluster file writes it: "ed25519:<64 hex digits>"."""
    if (not isinstance(text, str) or not text.startswith(PUBLIC_PREFIX)
            or len(text) != len(PUBLIC_PREFIX) + 64 or not _is_hex(text[len(PUBLIC_PREFIX):])):
        raise InputError(f"{where}: expected \"{PUBLIC_PREFIX}<64 hex digits>\"")
    return bytes.fromhex(text[len(PUBLIC_PREFIX):])


def public_key_text(pub: bytes) -> str:
    return PUBLIC_PREFIX + pub.hex()


RESERVED_NAME = "(coordinator)"  # the star's schedule credits its own recomputations to this name


def parse(doc: Any, where: str = "cluster") -> ClusterFile:
    """A parsed cluster file; InputError naming the place of the first problem."""
    if not isinstance(doc, dict) or not isinstance(doc.get("peers"), dict):
        raise InputError(f"{where}: expected {{\"peers\": {{node_id: {{address, port}}}}}} "
                         f"(exo's manual discovery format)")
    if not doc["peers"]:
        raise InputError(f"{where}: peers: empty")
    peers = []
    for node_id, p in doc["peers"].items():
        place = f"{where}: peers.{node_id}"
        if not node_id or node_id != node_id.strip():
            raise InputError(f"{where}: peers: a node id {node_id!r} (empty or padded with spaces)")
        if not isinstance(p, dict):
            raise InputError(f"{place}: expected an object")
        addr, port = p.get("address"), p.get("port")
        if not isinstance(addr, str) or not addr:
            raise InputError(f"{place}.address: expected a host name or IP address")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InputError(f"{place}.port: expected an integer in 1..65535, got {port!r}")
        caps = p.get("device_capabilities", {})
        gay = p.get("gay", {})
        if not isinstance(caps, dict):
            raise InputError(f"{place}.device_capabilities: expected an object")
        if not isinstance(gay, dict):
            raise InputError(f"{place}.gay: expected an object")
        pub = parse_public_key(gay["public_key"], f"{place}.gay.public_key") if "public_key" in gay else None
        if node_id == RESERVED_NAME:
            raise InputError(f"{place}: the name {RESERVED_NAME!r} is reserved (the coordinator's own results)")
        here = (addr.strip().lower(), port)
        twin = next((q.node_id for q in peers if (q.host.strip().lower(), q.port) == here), None)
        if twin is not None:
            raise InputError(f"{place}: the same address as peers.{twin} ({addr}:{port}): one miner cannot be two")
        peers.append(PeerEntry(node_id, addr, port, caps, gay, pub))
    top = doc.get("gay", {})
    if not isinstance(top, dict):
        raise InputError(f"{where}: gay: expected an object")
    coords = top.get("coordinators", {})
    if not isinstance(coords, dict):
        raise InputError(f"{where}: gay.coordinators: expected {{name: \"{PUBLIC_PREFIX}<hex>\"}}")
    coordinators = {}
    for name, text in coords.items():
        if not name or name in doc["peers"] or name == RESERVED_NAME:
            raise InputError(f"{where}: gay.coordinators: {name!r} is empty or also a peer")
        coordinators[name] = parse_public_key(text, f"{where}: gay.coordinators.{name}")
    return ClusterFile(tuple(peers), coordinators)


def load(path: str) -> ClusterFile:
    return parse(jsonfile.read(path, "cluster file"), f"cluster file {path}")
