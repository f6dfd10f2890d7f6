"""The NashProp member's state machine (exo_gay/nashprop/machine.py) without zenoh: members in
one process, their actions carried by a small in-memory shell written here (sends become
Message events, Mine actions are computed with the numpy reference, audits answered from the
miner's Merkle tree). Known answers from `ref_xor` (tests/nashprop_adversary.py)."""

from __future__ import annotations

import json

from nashprop_adversary import ref_xor

from exo_gay import audit
from exo_gay.nashprop import checks
from exo_gay.nashprop import records as R
from exo_gay.nashprop.aggregate import Final, Summary
from exo_gay.nashprop.events import Audit, Audited, Broadcast, Live, Message, Mine, Mined, Send
from exo_gay.nashprop.machine import Config, MemberState
from exo_gay.nashprop.plan import Plan
from exo_gay.nashprop.roster import Roster

SEED = 7202985
SESSION = "6de8a9-1000-test"


def leaf(a, c):
    return ref_xor(SEED, a, c)


class Net:
    """Members with their own roster, identity and machine; ``run`` carries actions until every
    live member holds a Final (or the rounds run out)."""

    def __init__(self, names, total, k=4, pieces=4, leaves=4):
        self.names, self.total, self.leaves = names, total, leaves
        self.ids = {n: R.Identity() for n in names}
        self.plan = Plan.make(SEED, total, names, k)
        self.trees = {}
        self.st = {}
        for n in names:
            roster = Roster(SESSION)
            for m in names:
                roster.apply(m, self.ids[m].public_hex, True)
            roster.settled = True
            self.st[n] = MemberState(Config(SEED, total, n, SESSION, k, pieces), self.plan, roster, self.ids[n], leaf)
        self.queue = []
        self.accusations = []
        for n in names:
            self.act(n, self.st[n].start())

    def act(self, who, actions):
        for a in actions:
            if isinstance(a, Send):
                self.queue.append((a.to, Message(who, a.data)))
            elif isinstance(a, Broadcast):
                self.accusations.append((who, a.data))
            elif isinstance(a, Mine):
                vals = [leaf(la, lc) for la, lc in audit.leaf_ranges(a.start, a.count, self.leaves)]
                rec, tree = R.make_record(SESSION, who, a.v, a.j, a.start, a.count, vals)
                self.trees[(who, a.v, a.j)] = tree
                self.queue.append((who, Mined(rec, 0.0)))
            elif isinstance(a, Audit):
                rec = a.got.rec
                leaves, _ = checks.audit_query(rec, 2)
                tree = self.trees.get((rec.miner, rec.of, rec.j))
                reply = R.canonical(R.answer(tree, leaves)) if tree else None
                outcome, ev = checks.audit_outcome(SESSION, rec, leaves, reply, leaf)
                self.queue.append((who, Audited(a.key, a.got, outcome, ev)))

    def deliver(self, to, ev):
        if to in self.st:
            self.act(to, self.st[to].handle(ev))

    def run(self, rounds=40, before_sync=None):
        for _ in range(rounds):
            while self.queue:
                to, ev = self.queue.pop(0)
                self.deliver(to, ev)
            for n, st in self.st.items():
                self.act(n, st.settle_checks())
            if before_sync:
                before_sync(self)
            for n, st in self.st.items():
                self.act(n, st.sync())
            if all(st.final is not None for st in self.st.values()):
                return True
        return False


def test_members_agree_exactly_without_zenoh():
    net = Net(["a", "b", "c", "d", "e", "f"], 6000, k=2)
    assert net.run()
    want = ref_xor(SEED, 0, 6000)
    assert {st.final.xor for st in net.st.values()} == {want}
    assert all(st.result(1.0)["checked_chain"] >= 1 for st in net.st.values())


def test_a_forged_final_is_refused_and_the_run_stays_exact():
    net = Net(["a", "b", "c", "d", "e"], 5000)
    attacker = net.plan.order[3]
    key = net.ids[attacker]

    def forge(net):
        fake = 0x1234
        data = Final(fake, 5000, 5, 0, 0, 3).encode()
        sdata = Summary(0, 5, 0, 5000, fake, 0).encode()
        link = {"from": attacker, "data": sdata.hex(), "sig": R.sign_summary(key, SESSION, sdata),
                "own": [[p, f"{(fake if p == 3 else 0):016x}"] for p in range(5)], "subs": []}
        fin = {"data": data.hex(), "sig": R.sign_tagged(key, "final", SESSION, data), "chain": [link]}
        for n in net.names:
            if n != attacker:
                net.deliver(n, Message(attacker, key.seal({"from": attacker, "records": [], "agg": [], "final": fin})))

    assert net.run(before_sync=forge)
    assert {st.final.xor for st in net.st.values()} == {ref_xor(SEED, 0, 5000)}
    assert any(st.refused and "not the acting root" in st.refused for st in net.st.values())


def test_an_own_from_a_member_the_rule_does_not_name_is_ignored():
    names = ["a", "b", "c", "d", "e"]
    net = Net(names, 5000, k=2)
    victim = net.plan.order[1]
    liar = net.plan.order[4]
    # position 1 dies before anything: its miner is position 0, its composer position 2
    for n in names:
        if n != victim:
            net.deliver(n, Live(victim, net.ids[victim].public_hex, False))
    del net.st[victim]

    def inject(net):
        body = {"from": liar, "records": [], "agg": ["03" + (1).to_bytes(8, "big").hex() + "00" * 8]}
        net.deliver(net.plan.order[2], Message(liar, net.ids[liar].seal(body)))

    assert net.run(before_sync=inject)
    assert {st.final.xor for st in net.st.values()} == {ref_xor(SEED, 0, 5000)}


def test_a_second_key_for_a_name_is_ignored_once_settled():
    r = Roster(SESSION)
    assert r.apply("a", "11" * 32, True) == "up"
    assert r.apply("a", "22" * 32, True) is None and r.conflict == "two members call themselves 'a'"
    r = Roster(SESSION)
    r.apply("a", "11" * 32, True)
    r.settled = True
    assert r.apply("a", "11" * 32, False) == "down"
    assert r.apply("a", "22" * 32, True) is None and r.key_of("a") == "11" * 32 and r.conflict is None
    assert r.apply("a", "11" * 32, True) == "back"


def test_shared_key_tokens_need_the_mac():
    key = b"k" * 32
    r = Roster(SESSION, key)
    pub = "33" * 32
    assert r.apply("a", pub, True, None) is None
    assert r.apply("a", pub, True, "00" * 16) is None
    assert r.apply("a", pub, True, R.member_mac(key, SESSION, "a", pub)) == "up"
    assert Roster(SESSION).apply("b", pub, True, R.member_mac(key, SESSION, "b", pub)) is None


def test_key_pairs_admit_only_the_listed_public_key():
    r = Roster(SESSION, trusted={"a": "44" * 32})
    assert r.apply("a", "55" * 32, True) is None  # another key under a's name
    assert r.apply("b", "44" * 32, True) is None  # a name not listed
    assert r.apply("a", "44" * 32, True, "00" * 16) is None  # a MAC is not a key pair's token
    assert r.apply("a", "44" * 32, True) == "up"


def test_large_or_deep_json_is_refused_cheaply():
    import pytest

    from exo_gay.errors import InputError

    with pytest.raises(InputError):
        R.loads(b"[" * 200000 + b"]" * 200000, "x")
    with pytest.raises(InputError):
        R.loads(b" " * (R.MAX_MESSAGE + 1), "x")
    assert R.loads(json.dumps({"a": 1}).encode(), "x") == {"a": 1}


class LossyNet(Net):
    """Every member's first envelope to each other member is lost (zenoh dropped it under
    congestion, or the receiver had no room for it: a burst of accusations filled its queue)."""

    def __init__(self, *a, **kw):
        self.lost: set[tuple[str, str]] = set()
        super().__init__(*a, **kw)

    def act(self, who, actions):
        kept = []
        for a in actions:
            if isinstance(a, Send) and (who, a.to) not in self.lost:
                self.lost.add((who, a.to))
                continue
            kept.append(a)
        super().act(who, kept)


def test_records_in_a_lost_envelope_are_sent_again():
    """Records went once: a lost envelope left its receiver without them for good (it could
    never check the sender's summary, nor the acting root's records, so the run hung)."""
    net = LossyNet(["a", "b", "c", "d", "e"], 5000, k=2)
    assert net.run(), {n: st.waiting_for() for n, st in net.st.items()}
    assert {st.final.xor for st in net.st.values()} == {ref_xor(SEED, 0, 5000)}
    assert len(net.lost) >= 4


class LyingRootNet(LossyNet):
    """And the root (position 0) commits to every leaf XORed with 1, as tests/nashprop_adversary.py
    does in mode "lie"."""

    def act(self, who, actions):
        if who == Plan.make(SEED, self.total, self.names).order[0]:
            kept = []
            for a in actions:
                if isinstance(a, Mine):
                    vals = [leaf(la, lc) ^ 1 for la, lc in audit.leaf_ranges(a.start, a.count, self.leaves)]
                    rec, tree = R.make_record(SESSION, who, a.v, a.j, a.start, a.count, vals)
                    self.trees[(who, a.v, a.j)] = tree
                    self.queue.append((who, Mined(rec, 0.0)))
                else:
                    kept.append(a)
            actions = kept
        super().act(who, actions)


def test_a_lying_root_excluded_then_lost_envelopes_still_end_exact():
    """The [0-lie] case without zenoh: every child names the root, the lowest child becomes the
    acting root and mines the root's range again; the first envelope of every member to every
    other is lost (after the exclusion, the new acting root's and its reporters' records)."""
    names = ["a", "b", "c", "d"]
    net = LyingRootNet(names, 4000, k=4)
    liar = net.plan.order[0]
    honest = [n for n in names if n != liar]

    def done():
        return all(net.st[n].final is not None for n in honest)

    for _ in range(60):
        if done():
            break
        net.run(rounds=1)
    assert done(), {n: net.st[n].waiting_for() for n in honest}
    assert {net.st[n].final.xor for n in honest} == {ref_xor(SEED, 0, 4000)}
    assert all(liar in net.st[n].accused for n in honest)


class EvidenceLossNet(Net):
    """Every envelope that carries an Own's evidence (the gone member's signed records) is lost
    the first time for each receiver; read from the wire: {"body": "<json>", "sig": ...}."""

    def __init__(self, *a, **kw):
        self.lost: set[str] = set()
        super().__init__(*a, **kw)

    def act(self, who, actions):
        kept = []
        for a in actions:
            if isinstance(a, Send) and "evidence" in json.loads(json.loads(a.data)["body"]) and a.to not in self.lost:
                self.lost.add(a.to)
                continue
            kept.append(a)
        super().act(who, kept)


def test_an_own_whose_evidence_was_lost_is_still_checked():
    """Position 1 dies after its parent audited its records: the parent (its miner) mines the
    rest and sends an Own to position 2 (its composer) with 1's signed records as evidence. The
    evidence went once: lost, the composer could never check the Own, and the run hung."""
    names = ["a", "b", "c", "d", "e"]
    net = EvidenceLossNet(names, 5000, k=2, pieces=4)
    victim, miner, composer = net.plan.order[1], net.plan.order[0], net.plan.order[2]
    # the victim's records reach its parent, which audits them; the victim has not reported yet
    for _ in range(2):
        while net.queue:
            to, ev = net.queue.pop(0)
            net.deliver(to, ev)
        net.act(victim, net.st[victim].sync())
    while net.queue:
        to, ev = net.queue.pop(0)
        net.deliver(to, ev)
    assert net.st[miner].book.audited_by_me(1, victim)
    for n in names:
        if n != victim:
            net.deliver(n, Live(victim, net.ids[victim].public_hex, False))
    del net.st[victim]
    assert net.run(rounds=60), {n: st.waiting_for() for n, st in net.st.items()}
    assert composer in net.lost
    assert {st.final.xor for st in net.st.values()} == {ref_xor(SEED, 0, 5000)}
