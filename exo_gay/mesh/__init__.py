"""Distributed mining over gRPC: miners (service.py), the coordinator (coordinator.py).

Modules: mesh.proto / mesh_pb2.py (messages, generated and committed; see regenerate.py),
wire.py (service names, limits), auth.py (HMAC, nonce, timestamp), service.py (the miner),
client.py (calling one), schedule.py (pure policy: chunks, stealing, acceptance),
journal.py (resume after a coordinator crash), cluster.py (exo's cluster file),
coordinator.py (the loop, proofs and the report).
"""

import os

# gRPC's C core logs every GOAWAY at INFO when a channel or server closes; that is noise on a
# terminal.  Only a default: GRPC_VERBOSITY set by the user wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
