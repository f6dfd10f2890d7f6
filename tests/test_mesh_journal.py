"""The coordinator's journal: bound to one bundle and chunking, tolerant of a torn last line."""

from __future__ import annotations

import json

import pytest

from exo_gay.mesh.journal import Journal, JournalError, read_journal, replay


def test_round_trip_and_replay_order(tmp_path):
    path = str(tmp_path / "j.jsonl")
    j = Journal(path, "h" * 64, 1000)
    j.accepted(0, 1000, '"0x01"', ("a",))
    j.accepted(1000, 1000, '"0x02"', ("b", "c"))
    j.reopened(0, 1000, "a convicted")
    j.close()
    events = list(replay(read_journal(path, "h" * 64, 1000)))
    assert events == [("accept", 0, 1000, '"0x01"', ("a",)), ("accept", 1000, 1000, '"0x02"', ("b", "c")),
                      ("reopen", 0, 1000, None, ())]
    Journal(path, "h" * 64, 1000).close()  # reopening appends, no second header
    assert sum("journal" in json.loads(ln) for ln in open(path).read().splitlines()) == 1


def test_a_torn_last_line_is_ignored_a_torn_middle_is_not(tmp_path):
    path = tmp_path / "j.jsonl"
    head = json.dumps({"journal": 1, "bundle_hash": "h", "chunk_size": 10})
    ok = json.dumps({"accept": [0, 10], "value": '"0x1"', "by": ["a"]})
    path.write_text(f"{head}\n{ok}\n{{\"accept\": [10, 1")  # killed mid-write
    assert len(read_journal(str(path), "h", 10)) == 1
    path.write_text(f"{head}\n{{\"acc\n{ok}\n{ok}\n")
    with pytest.raises(JournalError, match="line 2"):
        read_journal(str(path), "h", 10)


def test_a_journal_for_another_bundle_or_chunking_is_refused(tmp_path):
    path = str(tmp_path / "j.jsonl")
    Journal(path, "h1", 10).close()
    with pytest.raises(JournalError, match="another bundle"):
        read_journal(path, "h2", 10)
    with pytest.raises(JournalError, match="chunk size"):
        read_journal(path, "h1", 20)
    (tmp_path / "x").write_text('{"something": "else"}\n')
    with pytest.raises(JournalError, match="not an exo-gay journal"):
        read_journal(str(tmp_path / "x"), "h1", 10)
    assert read_journal(str(tmp_path / "absent"), "h1", 10) == []


def test_resuming_after_a_torn_line_keeps_the_journal_readable(tmp_path):
    # A coordinator killed mid-write leaves a torn last line; the resumed run appends after
    # it, and a second resume must still read every chunk the resumed run accepted.
    path = str(tmp_path / "j.jsonl")
    j = Journal(path, "h", 10)
    j.accepted(0, 10, '"0x1"', ("a",))
    j.close()
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"accept": [10, 1')  # killed mid-write
    assert len(read_journal(path, "h", 10)) == 1
    j = Journal(path, "h", 10)  # the resumed run
    j.accepted(10, 10, '"0x2"', ("b",))
    j.close()
    events = list(replay(read_journal(path, "h", 10)))
    assert events == [("accept", 0, 10, '"0x1"', ("a",)), ("accept", 10, 10, '"0x2"', ("b",))]
