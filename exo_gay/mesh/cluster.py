"""Cluster files: exo's manual-discovery format, so one file describes the cluster for both.

    {"peers": {"<node_id>": {"address": "127.0.0.1", "port": 50051,
                             "device_capabilities": {...}}}}

For exo, ``port`` is the node's gRPC port; our miner service is registered on that same
server by the exo plugin, so the address is the same.  A standalone ``exo-gay serve`` uses
its own port, written in the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Peer:
    """A miner to use: by address, or by a ready grpc.aio channel (e.g. exo's peer handle's)."""

    node_id: str
    address: str | None = None
    channel: Any = None


def parse_cluster(doc: Any, where: str = "cluster") -> list[Peer]:
    """Peers from a parsed cluster file; ValueError naming the place of the first problem."""
    if not isinstance(doc, dict) or not isinstance(doc.get("peers"), dict):
        raise ValueError(f"{where}: expected {{\"peers\": {{node_id: {{address, port}}}}}} (exo's manual discovery format)")
    if not doc["peers"]:
        raise ValueError(f"{where}: peers: empty")
    peers = []
    for node_id, p in doc["peers"].items():
        place = f"{where}: peers.{node_id}"
        if not node_id:
            raise ValueError(f"{where}: peers: an empty node id")
        if not isinstance(p, dict):
            raise ValueError(f"{place}: expected an object")
        addr, port = p.get("address"), p.get("port")
        if not isinstance(addr, str) or not addr:
            raise ValueError(f"{place}.address: expected a host name or IP address")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ValueError(f"{place}.port: expected an integer in 1..65535, got {port!r}")
        host = f"[{addr}]" if ":" in addr and not addr.startswith("[") else addr
        peers.append(Peer(node_id, f"{host}:{port}"))
    return peers


def load_cluster(path: str) -> list[Peer]:
    from ..cliutil import UsageError, read_json_file

    try:
        return parse_cluster(read_json_file(path, "cluster file"), f"cluster file {path}")
    except ValueError as e:
        raise UsageError(str(e)) from None
