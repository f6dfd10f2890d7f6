"""Distributed mining over gRPC: miners (service.py), the coordinator (coordinator.py).

Modules: mesh.proto / mesh_pb2.py and health.proto / health_pb2.py (messages, generated and
committed; see regenerate.py), wire.py (service names, limits), auth.py (HMAC or Ed25519,
bound to node and boot), service.py (the miner: mine, commit, answer audits), client.py
(calling one), schedule.py (pure policy: chunks, stealing, acceptance), journal.py (resume and
convictions, HMAC-chained), peers.py (peers from exo_gay/clusterfile.py), coordinator.py (the loop),
setup.py (checks before any work), session.py (the miners of a run), verifier.py
(deadlines, audits, recomputation), report.py (the typed report).  docs/proof.md states the
guarantee.  Importing this package has no side effects (the CLI quiets gRPC's logging itself).
"""
