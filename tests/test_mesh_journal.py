"""The coordinator's journal: bound to one bundle and chunking, chained under its seal's key,
names checked, one rule for junk (a torn last line is ignored, any other bad line refused)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from exo_gay.mesh.journal import Event, Journal, JournalError, read_journal, seal_path

NAMES = {"a", "b", "c"}


def test_round_trip_with_convictions(tmp_path):
    path = str(tmp_path / "j.jsonl")
    j = Journal(path, "h" * 64, 1000)
    j.accepted(0, 1000, '"0x01"', ("a",))
    j.accepted(1000, 1000, '"0x02"', ("b", "c"))
    j.convicted("a", "leaf 3 differs")
    j.reopened(0, 1000, "a convicted")
    j.close()
    events = read_journal(path, "h" * 64, 1000, NAMES)
    assert events == [Event("accept", 0, 1000, '"0x01"', ("a",)), Event("accept", 1000, 1000, '"0x02"', ("b", "c")),
                      Event("convict", node="a", why="leaf 3 differs"), Event("reopen", 0, 1000)]
    Journal(path, "h" * 64, 1000).close()  # reopening appends, no second header
    assert sum("journal" in json.loads(ln) for ln in open(path).read().splitlines()) == 1


def _lines_of(path) -> list[str]:
    return open(path).read().splitlines()


def test_a_torn_last_line_is_ignored_a_bad_middle_line_is_not(tmp_path):
    path = str(tmp_path / "j.jsonl")
    j = Journal(path, "h", 10)
    j.accepted(0, 10, '"0x1"', ("a",))
    j.close()
    head, ok = _lines_of(path)
    with open(path, "a") as f:
        f.write('{"accept": [10, 1')  # killed mid-write
    assert len(read_journal(path, "h", 10, NAMES)) == 1
    for junk in ('{"acc', "[" * 100_000 + "]" * 100_000, '{"accept": [0, ' + "9" * 5000 + "]}",
                 '{"accept": [0, 10], "value": "x", "by": []}', '{"surprise": 1}'):
        with open(path, "w") as f:
            f.write(f"{head}\n{junk}\n{ok}\n")
        with pytest.raises(JournalError, match="line 2"):
            read_journal(path, "h", 10, NAMES)


def test_a_journal_for_another_bundle_or_chunking_or_a_foreign_file_is_refused(tmp_path):
    path = str(tmp_path / "j.jsonl")
    Journal(path, "h1", 10).close()
    with pytest.raises(JournalError, match="another bundle"):
        read_journal(path, "h2", 10, NAMES)
    with pytest.raises(JournalError, match="chunk size"):
        read_journal(path, "h1", 20, NAMES)
    for text in ('{"something": "else"}\n', "my notes, no newline", "notes\nmore notes\n"):
        (tmp_path / "x").write_text(text)
        with pytest.raises(JournalError, match="not an exo-gay journal"):
            read_journal(str(tmp_path / "x"), "h1", 10, NAMES)
    assert read_journal(str(tmp_path / "absent"), "h1", 10, NAMES) == []


def test_entries_credited_to_strangers_are_refused(tmp_path):
    path = str(tmp_path / "j.jsonl")
    j = Journal(path, "h", 10)
    j.accepted(0, 10, '"0x1"', ("mallory",))
    j.close()
    with pytest.raises(JournalError, match="not a peer"):
        read_journal(path, "h", 10, NAMES)


def test_every_line_is_chained_under_the_seals_key_so_forgery_alteration_removal_and_cuts_are_refused(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(str(path), "h", 10)
    j.accepted(0, 10, '"0x1"', ("a",))
    j.accepted(10, 10, '"0x2"', ("b",))
    j.convicted("c", "lied")
    j.close()
    assert stat.S_IMODE(os.stat(seal_path(str(path))).st_mode) == 0o600
    assert len(read_journal(str(path), "h", 10, NAMES)) == 3
    lines = path.read_text().splitlines()
    forged = json.dumps({"accept": [20, 10], "value": '"0x3"', "by": ["(coordinator)"], "mac": "00" * 32})
    altered = lines[1].replace("0x1", "0x9")
    assert altered != lines[1]
    for bad in (lines + [forged], [lines[0], altered] + lines[2:], [lines[0]] + lines[2:]):
        path.write_text("\n".join(bad) + "\n")
        with pytest.raises(JournalError, match="authentication"):
            read_journal(str(path), "h", 10, NAMES)
    # cut just before the conviction: the seal still holds that line, so it stands
    path.write_text("\n".join(lines[:3]) + "\n")
    assert read_journal(str(path), "h", 10, NAMES)[-1] == Event("convict", node="c", why="lied")
    for cut in (lines[:2], lines[:1]):  # cut further: refused
        path.write_text("\n".join(cut) + "\n")
        with pytest.raises(JournalError, match="does not end with the line its seal names"):
            read_journal(str(path), "h", 10, NAMES)
    path.write_text("")
    with pytest.raises(JournalError, match="cut"):
        read_journal(str(path), "h", 10, NAMES)
    path.write_text("\n".join(lines) + "\n")
    seal = seal_path(str(path))
    os.rename(seal, seal + ".away")
    with pytest.raises(JournalError, match="seal .* is missing"):
        read_journal(str(path), "h", 10, NAMES)
    Journal(str(tmp_path / "other.jsonl"), "h", 10).close()
    os.replace(seal_path(str(tmp_path / "other.jsonl")), seal)  # another journal's key
    with pytest.raises(JournalError, match="authentication"):
        read_journal(str(path), "h", 10, NAMES)


def test_a_line_sealed_but_not_appended_is_recovered_from_the_seal(tmp_path):
    """The coordinator died after sealing a line and before appending it (or mid-append)."""
    for n, tail in enumerate(("", '{"convict":"a"')):  # nothing of the last line written, or a torn part
        path = str(tmp_path / f"j{n}.jsonl")
        j = Journal(path, "h", 10)
        j.accepted(0, 10, '"0x1"', ("a",))
        j.convicted("a", "lied")
        j.close()
        lines = _lines_of(path)
        with open(path, "w") as f:
            f.write("\n".join(lines[:-1]) + "\n" + tail)
        assert read_journal(path, "h", 10, NAMES)[-1] == Event("convict", node="a", why="lied")
        j = Journal(path, "h", 10)  # the resumed run appends it from the seal
        j.accepted(10, 10, '"0x2"', ("b",))
        j.close()
        assert [e.kind for e in read_journal(path, "h", 10, NAMES)] == ["accept", "convict", "accept"]


def test_resuming_after_a_torn_line_keeps_the_journal_readable_and_the_chain_intact(tmp_path):
    path = str(tmp_path / "j.jsonl")
    j = Journal(path, "h", 10)
    j.accepted(0, 10, '"0x1"', ("a",))
    j.close()
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"accept": [10, 1')  # junk after the sealed line (not what was being written)
    assert len(read_journal(path, "h", 10, NAMES)) == 1
    j = Journal(path, "h", 10)  # the resumed run
    j.accepted(10, 10, '"0x2"', ("b",))
    j.close()
    assert [e.start for e in read_journal(path, "h", 10, NAMES)] == [0, 10]


def test_a_file_where_the_seal_goes_that_is_not_a_seal_is_refused_and_left_untouched(tmp_path):
    """e.g. --journal cluster beside the user's own cluster.seal: never written over."""
    path = str(tmp_path / "cluster")
    with open(seal_path(path), "w") as f:
        f.write("00" * 32 + "\n")
    with pytest.raises(JournalError, match="is not one"):
        read_journal(path, "h", 10, NAMES)
    assert open(seal_path(path)).read() == "00" * 32 + "\n" and not os.path.exists(path)
