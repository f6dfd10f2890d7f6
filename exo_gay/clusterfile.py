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
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StrictInt, StrictStr

from . import jsonfile, schema
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


def is_hex(s: str) -> bool:
    """Whole bytes of hex digits: non-empty, even length, 0-9a-fA-F only."""
    return bool(s) and len(s) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in s)


def parse_public_key(text: Any, where: str) -> bytes:
    """An Ed25519 public key as the cluster file writes it: "ed25519:<64 hex digits>"."""
    if (not isinstance(text, str) or not text.startswith(PUBLIC_PREFIX)
            or len(text) != len(PUBLIC_PREFIX) + 64 or not is_hex(text[len(PUBLIC_PREFIX):])):
        raise InputError(f"{where}{': ' if where else ''}expected \"{PUBLIC_PREFIX}<64 hex digits>\"")
    return bytes.fromhex(text[len(PUBLIC_PREFIX):])


def public_key_text(pub: bytes) -> str:
    return PUBLIC_PREFIX + pub.hex()


RESERVED_NAME = "(coordinator)"  # the star's schedule credits its own recomputations to this name


def _node_id(v: str) -> str:
    if not v or v != v.strip():
        raise ValueError(f"a node id {v!r} (empty or padded with spaces)")
    if v == RESERVED_NAME:
        raise ValueError(f"the name {RESERVED_NAME!r} is reserved (the coordinator's own results)")
    return v


def _public_key(v: str) -> str:
    parse_public_key(v, "")
    return v


NodeId = Annotated[StrictStr, AfterValidator(_node_id)]
PublicKey = Annotated[StrictStr, AfterValidator(_public_key)]


class _GayFields(BaseModel):  # exo-gay's fields of a peer; any others are kept as written
    public_key: PublicKey | None = None


class _PeerDoc(BaseModel):  # exo's fields; exo-gay's own under "gay"
    address: Annotated[StrictStr, Field(min_length=1)]
    port: Annotated[StrictInt, Field(gt=0, lt=65536)]
    device_capabilities: dict = {}
    gay: dict = {}


class _TopGay(BaseModel):
    coordinators: dict[NodeId, PublicKey] = {}


class _ClusterDoc(BaseModel):
    peers: Annotated[dict[NodeId, _PeerDoc], Field(min_length=1)]
    gay: _TopGay = _TopGay()


def parse(doc: Any, where: str = "cluster") -> ClusterFile:
    """A parsed cluster file; InputError naming the place of the first problem."""
    problems: list[str] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("peers"), dict):
        raise InputError(f"{where}: expected {{\"peers\": {{node_id: {{address, port}}}}}} "
                         f"(exo's manual discovery format)")
    d = schema.check(_ClusterDoc, doc, problems)
    for node_id, p in (d.peers.items() if d else ()):
        schema.check(_GayFields, p.gay, problems, ("peers", node_id, "gay"))
    clash = sorted(set(d.peers) & set(d.gay.coordinators)) if d else []
    if clash:
        problems.append(f"gay.coordinators.{clash[0]}: also a peer")
    seen: dict[tuple[str, int], str] = {}
    for node_id, p in (d.peers.items() if d else ()):
        twin = seen.setdefault((p.address.strip().lower(), p.port), node_id)
        if twin != node_id:
            problems.append(f"peers.{node_id}: the same address as peers.{twin} ({p.address}:{p.port}): "
                            f"one miner cannot be two")
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise InputError(f"{where}: {problems[0]}{more}")
    peers = tuple(PeerEntry(n, p.address, p.port, p.device_capabilities, p.gay,
                            parse_public_key(p.gay["public_key"], "") if "public_key" in p.gay else None)
                  for n, p in d.peers.items())
    return ClusterFile(peers, {n: parse_public_key(k, "") for n, k in d.gay.coordinators.items()})


def load(path: str) -> ClusterFile:
    return parse(jsonfile.read(path, "cluster file"), f"cluster file {path}")
