"""The Miner service's names and limits, shared by the servicer and its clients.

The service is registered with grpc's generic handlers instead of generated *_pb2_grpc stubs,
so nothing here depends on the grpcio version that made the stubs (exo pins its own).
"""

from __future__ import annotations

import json
from typing import Any

from . import mesh_pb2 as pb

SERVICE = "exo_gay.mesh.Miner"
MINE = f"/{SERVICE}/Mine"
COLOR_AT = f"/{SERVICE}/ColorAt"
CAPABILITIES = f"/{SERVICE}/Capabilities"

# A request is a handful of chunk ranges and a result one value: 1 MiB is generous and keeps a
# hostile peer from making us allocate much.
MAX_MESSAGE_BYTES = 1 << 20
MAX_CHUNKS_PER_CALL = 4096
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]

# (request class, response class) per method, for (de)serialisers on both ends.
METHODS = {
    "Mine": (pb.MineRequest, pb.ChunkResult),
    "ColorAt": (pb.ColorAtRequest, pb.ColorAtReply),
    "Capabilities": (pb.CapabilitiesRequest, pb.CapabilitiesReply),
}


def value_to_text(reduction: Any, value: Any) -> str:
    """A reduction value as canonical JSON text: equal values give equal text."""
    return json.dumps(reduction.to_wire(value), sort_keys=True, separators=(",", ":"))


def value_from_text(reduction: Any, text: str) -> Any:
    return reduction.from_wire(json.loads(text))
