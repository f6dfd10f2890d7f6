"""The coordinator's report: typed rows, built once at the end, turned to JSON as is."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .. import audit
from ..fingerprint import Fingerprint, combine_all, normalize
from .wire import value_from_text


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


def _combined(bundle: Any, reduction: Any, chunks: list) -> tuple[dict, Any]:
    b = bundle
    records = {c.idx: Fingerprint.of_range(b.seed, b.algorithm, c.start, c.count,
                                           value_from_text(reduction, c.accepted), b.game)
               for c in chunks if c.accepted is not None}
    return records, (combine_all(records.values()) if records else None)  # refuses any overlap


def _host_rows(bundle: Any, chunks: list, records: dict, miners: dict) -> list[HostRow]:
    b, rows = bundle, []
    for r in b.ranges:
        mine = [c for c in chunks if c.host == r.host]
        done = [c for c in mine if c.accepted is not None]
        fp = combine_all(records[c.idx] for c in done) if len(done) == len(mine) else None
        m = miners.get(r.host)
        rows.append(HostRow(r.host, r.start, r.count, r.polarity, round(m.rate) if m and m.rate else None,
                            fp.to_json()["xor" if b.game == "xor" else "value"] if fp else None,
                            sum(c.count for c in done if r.host not in c.accepted_by),
                            m.status if m else "absent", m.reason if m else ""))
    return rows


def build_report(run: Any, wall_s: float, mining_s: float) -> MineReport:
    """The report of a finished Coordinator run (its schedule, miners, verifier, problems)."""
    b, sched, v, miners = run.bundle, run.sched, run.verifier, run.session.miners
    problems = list(run.problems)
    records, combined = _combined(b, v.reduction, sched.chunks)
    want = normalize((r.start, r.count) for r in b.ranges)
    open_chunks = [c for c in sched.chunks if c.accepted is None]
    if open_chunks and not problems:
        problems.append(f"{len(open_chunks)} chunk(s) not mined: {sum(c.count for c in open_chunks)} colors")
    elif not open_chunks and (combined is None or combined.ranges != want):
        problems.append("the combined record does not cover exactly the bundle's ranges")
    matches = None
    if b.expected_xor is not None and combined is not None and not open_chunks:
        matches = combined.value == b.expected_xor
        if not matches:
            problems.append(f"combined xor {combined.to_json()['xor']} != expected_xor {b.expected_xor:#018x}")
    address = {p.node_id: p.address for p in run.session.peers}
    rows = [MinerRow(m.node_id, m.status, m.reason, m.chunks, m.colors, round(m.rate) if m.rate else None,
                     m.duplicates, m.audits_passed, m.audits_failed, m.capabilities, address.get(m.node_id))
            for m in miners.values()]
    mined_now = sched.accepted_colors() - run.resumed_colors
    mined = sum(m.colors for m in miners.values())
    guarantee = Guarantee(audit.LEAVES, run.audits, v.audits_made, v.audit_colors,
                          round(v.audit_colors / mined, 6) if mined else 0.0,
                          guarantee_text(v.audits_made, run.audits, audit.LEAVES,
                                         sum(m.chunks for m in miners.values())))
    return MineReport(
        bundle_hash=b.hash, seed=b.seed, algorithm=b.algorithm, game=b.game, total=b.total,
        chunk_size=run.chunk_size, replicas=run.replicas, audits=run.audits,
        combined=combined.to_json() if combined else None, expected_matches=matches,
        verified=not problems and not open_chunks, problems=problems,
        hosts=_host_rows(b, sched.chunks, records, miners), miners=rows,
        wrong_miners=[m.node_id for m in miners.values() if m.status == "wrong"],
        failed_miners=[m.node_id for m in miners.values() if m.status == "failed"],
        duplicates_ignored=sum(m.duplicates for m in miners.values()), disputes=run.disputes,
        resumed_colors=run.resumed_colors, seconds=round(wall_s, 6), mining_seconds=round(mining_s, 6),
        colors_per_second=round(mined_now / mining_s) if mining_s > 0 else None, guarantee=guarantee)
