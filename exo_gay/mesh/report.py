"""The coordinator's report: typed rows, built once at the end, turned to JSON as is."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class HostRow:
    host: str
    start: int
    count: int
    polarity: int
    colors_per_second: int | None
    fingerprint: str | None
    mined_by_others: int
    status: str
    reason: str


@dataclass(frozen=True)
class MinerRow:
    node_id: str
    status: str  # ok | failed | wrong
    reason: str
    chunks: int  # answers accepted after their audit
    colors: int
    colors_per_second: int | None
    duplicates_ignored: int
    audits_passed: int
    audits_failed: int
    retries: int
    capabilities: dict
    address: str | None = None  # where the coordinator called it (None: a channel handed in)


@dataclass(frozen=True)
class Guarantee:
    """What the audits made prove, in numbers (see docs/proof.md)."""

    leaves_per_chunk: int
    audits_per_chunk: int
    audits_made: int
    audit_colors: int  # recomputed by the coordinator itself
    audit_share: float  # audit_colors / colors mined
    text: str


@dataclass
class MineReport:
    bundle_hash: str
    seed: int
    algorithm: str
    game: str
    total: int
    chunk_size: int
    replicas: int
    audits: int
    combined: dict | None
    expected_matches: bool | None
    verified: bool
    problems: list[str]
    hosts: list[HostRow]
    miners: list[MinerRow]
    wrong_miners: list[str]
    failed_miners: list[str]
    duplicates_ignored: int
    disputes: int
    resumed_colors: int
    seconds: float
    mining_seconds: float
    colors_per_second: int | None
    guarantee: Guarantee

    def to_json(self) -> dict:
        return asdict(self)


def guarantee_text(audits_made: int, per_chunk: int, leaves: int, chunks_audited: int = 1) -> str:
    """The guarantee in words (docs/proof.md, "The guarantee")."""
    if chunks_audited == 0:
        return "nothing was mined and audited in this run: no guarantee to state"
    if audits_made == 0 or per_chunk == 0:
        return "no audits were made (--audits 0): the result rests on the miners' word"
    one = 1 - (1 - 1 / leaves) ** per_chunk
    return (f"every accepted chunk passed {per_chunk} leaf audit(s) of {leaves}, recomputed here after the "
            f"miner's commitment; a chunk with a fraction f of its leaves faked passes with probability "
            f"<= (1-f)^{per_chunk}, and a failed or dodged audit convicts the miner and reopens all its chunks "
            f"(one faked leaf: caught >= {one:.4f} per chunk; {audits_made} audits made)")
