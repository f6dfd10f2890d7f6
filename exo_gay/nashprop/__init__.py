"""NashProp: zero-coordinator mining. Every member derives the same order and ranges from the seed
and the member set, mines alone, and aggregates signed fingerprint records up a tree.

Pure (no I/O): plan (order, ranges, tree, takeover rule), aggregate (the tree aggregation, shared
by real runs and the simulation), sim (the simulation), events (typed events and actions),
machine (one member's state machine) with inbox, outbox, ledger, roster and checks. I/O: records
(signed records, PyNaCl), transport (zenoh) and run (the shell that drives the state machine).
"""
