"""The Miner service's names and limits, shared by the servicer and its clients.

The service is registered with grpc's generic handlers instead of generated *_pb2_grpc stubs,
so nothing here depends on the grpcio version that made the stubs (exo pins its own).
"""

from __future__ import annotations

import json
from typing import Any

from .. import jsonfile
from . import mesh_pb2 as pb

SERVICE = "exo_gay.mesh.Miner"
MINE = f"/{SERVICE}/Mine"
AUDIT = f"/{SERVICE}/Audit"
COLOR_AT = f"/{SERVICE}/ColorAt"
CAPABILITIES = f"/{SERVICE}/Capabilities"

# A request is a handful of chunk ranges and a result one value: 1 MiB is generous and keeps a
# hostile peer from making us allocate much.
MAX_MESSAGE_BYTES = 1 << 20
MAX_CHUNKS_PER_CALL = 4096
MAX_VALUE_CHARS = 64 << 10  # a reduction value's JSON text
_LIMITS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
           ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
# gRPC's own retry policy for a transient UNAVAILABLE (backing off 0.25, 0.5, 1, 2 s) on Mine,
# Capabilities and ColorAt; never on Audit: a miner answers its audit in one call or is convicted.
RETRY_POLICY = {"maxAttempts": 5, "initialBackoff": "0.25s", "maxBackoff": "2s", "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"]}
SERVICE_CONFIG = {"methodConfig": [{"name": [{"service": SERVICE, "method": m} for m in ("Mine", "Capabilities",
                                                                                          "ColorAt")],
                                    "retryPolicy": RETRY_POLICY}]}
CHANNEL_OPTIONS = _LIMITS + [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(SERVICE_CONFIG))]
# A server refuses a port another process listens on (gRPC sets SO_REUSEPORT by default).
SERVER_OPTIONS = _LIMITS + [("grpc.so_reuseport", 0)]

# (request class, response class) per method, for (de)serialisers on both ends.
METHODS = {
    "Mine": (pb.MineRequest, pb.ChunkResult),
    "Audit": (pb.AuditRequest, pb.AuditReply),
    "ColorAt": (pb.ColorAtRequest, pb.ColorAtReply),
    "Capabilities": (pb.CapabilitiesRequest, pb.CapabilitiesReply),
}


def value_to_text(reduction: Any, value: Any) -> str:
    """A reduction value as canonical JSON text: equal values give equal text."""
    return jsonfile.canonical(reduction.to_wire(value))


def value_from_text(reduction: Any, text: str) -> Any:
    """A value from a peer's text: ValueError for anything malformed, deep or oversized."""
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"a value of {len(text)} characters (at most {MAX_VALUE_CHARS})")
    try:
        return reduction.from_wire(jsonfile.loads(text, "value", ValueError))
    except (TypeError, KeyError, AttributeError, IndexError, ArithmeticError) as e:
        raise ValueError(f"malformed value: {e.__class__.__name__}") from None


def audit_context(bundle_hash: str, seed: int, algorithm: str, game: str) -> bytes:
    """What a chunk's commitment is bound to besides its range (audit.build's context)."""
    return f"{bundle_hash}\0{seed}\0{algorithm}\0{game}".encode()
