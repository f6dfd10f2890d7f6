"""Pure checks of what other members send: signed summaries with their parts, the Final's chain
of signed summaries, audit answers and accusations. No I/O; ``key_of(name)`` gives a member's
public key (hex) from the roster, ``span(v)`` a subtree's (lo, hi, first color, end color)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from .. import audit
from ..errors import InputError
from . import records as R
from .aggregate import Final, Summary, check_parts, decode

KeyOf = Callable[[str], "str | None"]
Span = Callable[[int], tuple[int, int, int, int]]
MAX_CHAIN = 64
MAX_PARTS = 4096


@dataclass(frozen=True)
class SignedSum:
    """A summary signed by ``signer`` with its parts: the positions it composed itself (with the
    XOR of each one's range) and the signed summaries of the subtrees it used."""

    signer: str
    msg: Summary
    owns: tuple[tuple[int, int], ...]
    subs: tuple[tuple[Summary, str], ...]  # (sub-summary, its signer)
    reason: str | None  # why the parts are false, None when they add up


def parse_sum(key_of: KeyOf, session: str, span: Span, signer: str, sm: Any) -> SignedSum | None:
    """A signed "sum" field; None when it is malformed or its signature does not hold (which
    proves nothing about the signer), else with ``reason`` set when its parts are false."""
    try:
        data = bytes.fromhex(sm["data"])
        msg = decode(data)
        if len(sm["own"]) > MAX_PARTS or len(sm["subs"]) > MAX_PARTS:
            return None
        owns = tuple((int(v), int(x, 16)) for v, x in sm["own"])
        subs, reason = [], None
        for lo, dhex, sig, sub_signer in sm["subs"]:
            sdata = bytes.fromhex(dhex)
            sub = decode(sdata)
            if not isinstance(sub, Summary) or sub.lo != int(lo) or not isinstance(sub_signer, str):
                return None
            if not R.summary_signed(key_of(sub_signer), session, sdata, sig):
                reason = "it passed on a summary its member did not sign"
            subs.append((sub, sub_signer))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not isinstance(msg, Summary) or not R.summary_signed(key_of(signer), session, data, sm.get("sig")):
        return None
    reason = reason or check_parts(span, msg, list(owns), [s for s, _ in subs])
    return SignedSum(signer, msg, owns, tuple(subs), reason)


def xor_of_records(recs: dict[int, int], pieces: int) -> int | None:
    """The XOR of a range from its pieces' XORs (piece -> XOR); None while one is missing."""
    if len(recs) != pieces or set(recs) != set(range(pieces)):
        return None
    x = 0
    for y in recs.values():
        x ^= y
    return x


@dataclass(frozen=True)
class FinalCheck:
    final: Final | None
    chain: list[dict]
    reason: str | None  # why it is refused (None: accepted)
    later: bool = False  # refused for now (I cannot check it yet), not proven false
    root_own: int | None = None  # the acting root's claimed own part (for its reporters to check)


def check_final(key_of: KeyOf, session: str, span: Span, n: int, total: int, order: tuple[str, ...],
                fin: Any, sender: str, acting_root: int, out: Callable[[int], bool],
                me: str, my_top: int, my_xor: int | None) -> FinalCheck:
    """A Final as it reaches me from ``sender``: signed by the acting root (as I see it), with
    the chain of signed summaries from the root's whole-tree summary down to ``sender``'s, each
    the sum of its parts and each a part of the one above, the last one using my own signed
    summary of my subtree (``my_top``) with my XOR. Positions claimed as composed must be out
    in my view. The acting root's own part is returned for its reporters to check against the
    root's records they audited."""
    def no(reason: str, later: bool = False) -> FinalCheck:
        return FinalCheck(None, [], reason, later)

    try:
        data = bytes.fromhex(fin["data"])
        final = decode(data)
        chain = fin["chain"]
        if not isinstance(final, Final) or not isinstance(chain, list) or not 1 <= len(chain) <= MAX_CHAIN:
            return no("a malformed Final")
    except (KeyError, TypeError, ValueError):
        return no("a malformed Final")
    if final.n != n or final.total != total or not 0 <= final.root < n:
        return no("a Final for another plan")
    root = order[final.root]
    if final.root != acting_root:
        return no(f"a Final from {root}, who is not the acting root as I see it", later=True)
    if not R.tagged_signed(key_of(root), "final", session, data, fin.get("sig")):
        return no(f"a Final not signed by {root}")
    sums = []
    for link in chain:
        if not isinstance(link, dict) or not isinstance(link.get("from"), str):
            return no("a malformed Final chain")
        s = parse_sum(key_of, session, span, link["from"], link)
        if s is None:
            return no(f"a summary in the Final's chain not signed by {link.get('from')}")
        if s.reason:
            return no(f"a summary in the Final's chain by {s.signer} is false: {s.reason}")
        for v, _ in s.owns:
            if v != order.index(s.signer) and not out(v):
                return no(f"{s.signer} claims to have composed position {v}, live as I see it", later=True)
        sums.append(s)
    top = sums[0]
    if top.signer != root or (top.msg.lo, top.msg.hi) != (0, n) or top.msg.xor != final.xor \
            or top.msg.takeovers != final.takeovers:
        return no("the Final is not the root's signed summary of the whole tree")
    for above, below in zip(sums, sums[1:], strict=False):
        if not any(sub.lo == below.msg.lo and sub.xor == below.msg.xor and who == below.signer
                   for sub, who in above.subs):
            return no(f"the Final's chain breaks between {above.signer} and {below.signer}")
    if sums[-1].signer != sender:
        return no(f"the Final's chain does not end at {sender}, who sent it")
    # my subtree's summary: the one I signed, or (I was promoted to a gone member's place after
    # its summary had arrived, checked by the sender) the one the gone member signed
    mine = [(sub, who) for sub, who in sums[-1].subs if sub.lo == my_top]
    if not any((who == me and my_xor is not None and sub.xor == my_xor) or (who == order[my_top] != me)
               for sub, who in mine):
        return no(f"my subtree's summary is not in {sender}'s summary", later=True)
    root_own = dict(top.owns).get(final.root)
    return FinalCheck(final, chain, None, root_own=root_own)


def audit_outcome(session: str, rec: R.PieceRecord, leaves: list[int], reply: bytes | None,
                  leaf: Callable[[int, int], int]) -> tuple[str, dict | None]:
    """(outcome, evidence) of one audit: "unanswered", "bad" (an answer that does not lead to
    the signed root), "lie" (a committed leaf whose colors XOR to something else: the evidence)
    or "ok". ``leaf(start, count)`` recomputes a leaf."""
    if reply is None:
        return "unanswered", None
    try:
        ans = R.parse_answer(R.loads(reply, "audit answer"))
    except InputError:
        return "bad", None
    ranges = audit.leaf_ranges(rec.start, rec.count, rec.n_leaves)
    for k in leaves:
        if k not in ans:
            return "bad", None
        value, path = ans[k]
        if not R.check_leaf(session, rec, k, value, path):
            return "bad", None
        la, lc = ranges[k]
        if leaf(la, lc) != value:
            return "lie", {"k": k, "value": f"{value:016x}", "path": [[d.hex(), f"{x:016x}"] for d, x in path]}
    return "ok", None


def audit_query(rec: R.PieceRecord, leaves_per_audit: int) -> tuple[list[int], bytes]:
    """Leaves chosen after the record arrived (fresh randomness), and the query's bytes."""
    leaves = audit.choose_leaves(os.urandom(16), rec.root, rec.n_leaves, leaves_per_audit)
    return leaves, R.canonical({"of": rec.of, "j": rec.j, "leaves": leaves})


def leaf_accusation(key_of: KeyOf, session: str, acc: dict, liar: str,
                    leaf: Callable[[int, int], int]) -> bool:
    """Does a false-leaf accusation prove itself? The liar signed the record, the leaf value
    leads to its root, and the leaf's colors XOR to something else."""
    try:
        inner = R.open_envelope(acc["envelope"].encode(), key_of(liar))
        rec = next(R.PieceRecord.from_json(d) for d in inner.get("records", [])
                   if isinstance(d, dict) and d.get("of") == acc["of"] and d.get("j") == acc["j"])
        k, value = int(acc["k"]), int(acc["value"], 16)
        path = [(bytes.fromhex(h), int(x, 16)) for h, x in acc["path"]]
        if rec.miner != liar or not 0 <= k < rec.n_leaves or not R.check_leaf(session, rec, k, value, path):
            return False
    except (InputError, AttributeError, KeyError, TypeError, ValueError, StopIteration):
        return False
    la, lc = audit.leaf_ranges(rec.start, rec.count, rec.n_leaves)[k]
    return leaf(la, lc) != value


def sum_accusation(key_of: KeyOf, session: str, span: Span, acc: dict, liar: str, v: int,
                   grid: list[tuple[int, int]]) -> bool:
    """Does a false-summary accusation prove itself? The liar's signed summary does not add up,
    or its signed records of its own position (every piece) XOR to something other than the
    part it claims for that position."""
    try:
        inner = R.open_envelope(acc["envelope"].encode(), key_of(liar))
        s = parse_sum(key_of, session, span, liar, inner.get("sum"))
        if s is None:
            return False
        if s.reason:
            return True
        claimed = dict(s.owns).get(v)
        if claimed is None:
            return True
        vals: dict[int, int] = {}
        for raw in acc.get("records", [])[:4096]:
            body = R.open_envelope(raw.encode(), key_of(liar))
            for d in body.get("records", []):
                rec = R.PieceRecord.from_json(d)
                if rec.miner == liar and rec.of == v and 0 <= rec.j < len(grid) \
                        and grid[rec.j] == (rec.start, rec.count):
                    vals[rec.j] = rec.xor
    except (InputError, AttributeError, KeyError, TypeError, ValueError):
        return False
    x = xor_of_records(vals, len(grid))
    return x is not None and x != claimed
