"""The typed events a NashProp member's state machine takes, and the actions it returns.

The shell (run.py) turns zenoh callbacks and its worker's results into events, and carries out
the actions; the state machine (machine.py) does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # records imports PyNaCl; the events themselves need nothing
    from .records import PieceRecord


# ------------------------------------------------------------------ events
@dataclass(frozen=True)
class Live:
    """A liveliness token of ``name`` with public key ``pub`` appeared (up) or went away."""

    name: str
    pub: str
    up: bool
    mac: str | None = None


@dataclass(frozen=True)
class Message:
    """Bytes put on my inbox by ``sender`` (the key expression says who; the signature proves it)."""

    sender: str
    data: bytes


@dataclass(frozen=True)
class Accusation:
    sender: str
    data: bytes


@dataclass(frozen=True)
class Mined:
    """A piece I mined: its signed-to-be record (the shell keeps the Merkle tree for audits)."""

    rec: "PieceRecord"
    seconds: float


@dataclass
class Got:
    """A record received from its miner, with the envelope that carried it (the evidence)."""

    rec: "PieceRecord"
    raw: bytes
    state: str = "pending"  # pending, ok, bad


@dataclass(frozen=True)
class Audited:
    key: tuple[int, int]
    got: Got
    outcome: str  # ok, bad, lie, unanswered
    evidence: dict | None = None


@dataclass(frozen=True)
class Failed:
    """The worker could not do a task."""

    reason: str


Event = Live | Message | Accusation | Mined | Audited | Failed


# ------------------------------------------------------------------ actions
@dataclass(frozen=True)
class Send:
    to: str
    data: bytes


@dataclass(frozen=True)
class Broadcast:
    """An accusation, to everyone."""

    data: bytes


@dataclass(frozen=True)
class Mine:
    v: int
    j: int
    start: int
    count: int
    prio: int


@dataclass(frozen=True)
class Audit:
    key: tuple[int, int]
    got: Got = field(compare=False)


Action = Send | Broadcast | Mine | Audit
