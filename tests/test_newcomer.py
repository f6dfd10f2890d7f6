"""A newcomer's first hour, through the real CLI: real processes, real files, real folders.

Every bad input is one line on stderr and exit 2, before any work, and leaves every file as it
was; every example in the --help of the generic commands runs as written, in order, in an
empty folder.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import stat
import subprocess
import sys

import pytest
from conftest import CONFIGS, ROOT, parsers

from exo_gay import cli as exo_cli

CLUSTER = os.path.join(CONFIGS, "cluster.example.json")


def _snapshot(folder) -> dict[str, tuple]:
    """Every entry under ``folder``: its kind, and for files their bytes and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[path] = ("file", f.read(), st.st_mtime_ns)
            else:
                out[path] = (stat.S_IFMT(st.st_mode), os.readlink(path) if os.path.islink(path) else None)
    return out


def _refused(cli, folder, *args, input=None) -> str:
    """Run the CLI, assert one error line on stderr, exit 2, no stdout, nothing under ``folder``
    made or changed; return the error line."""
    before = _snapshot(folder)
    r = cli(*args, input=input)
    lines = r.stderr.splitlines()
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert len(lines) == 1 and re.match(r"exo-gay( [a-z]+)*: error: ", lines[0]), r.stderr
    assert r.stdout == "", r.stdout
    assert _snapshot(folder) == before, f"{args} changed files under {folder}"
    return lines[0]


@pytest.fixture
def files(tmp_path, cli):
    """A folder as a newcomer has it after the first examples: a bundle of three hosts, weights,
    a sub-folder, a pipe and a dangling link."""
    bundle = tmp_path / "bundle.json"
    r = cli("bundle", "make", "--seed", "7", "--total", "3000", "--hosts", "a,b,c", "-o", str(bundle))
    assert r.returncode == 0, r.stderr
    (tmp_path / "weights.json").write_text('{"a": 3.1e9, "b": 1.2e9}')
    (tmp_path / "out").mkdir()
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "nowhere" / "x.json", tmp_path / "dangling.json")
    return tmp_path


# ---------------------------------------------------------------- outputs

def _writers(d) -> dict[str, tuple[list[str], str]]:
    """Each command that writes a file: (its arguments without the output, the output flag)."""
    b = str(d / "bundle.json")
    return {
        "bundle make": (["bundle", "make", "--seed", "1", "--total", "3e6", "--hosts", "a,b,c"], "-o"),
        "bundle make --compute-expected": (["bundle", "make", "--seed", "1", "--total", "3e6", "--hosts", "a,b,c",
                                            "--compute-expected"], "-o"),
        "game disguise encode": (["game", "disguise", "encode", "--bundle", b, "--message", "hi"], "-o"),
        "partition --svg": (["partition", "--model", "llama-3.2-1b", "--cluster", CLUSTER], "--svg"),
        "mine --out": (["mine", "--bundle", b, "--wait-peers", "0"], "--out"),
        "mine --journal": (["mine", "--bundle", b, "--wait-peers", "0"], "--journal"),
        "keygen --out": (["keygen"], "--out"),
        "keygen --shared --out": (["keygen", "--shared"], "--out"),
    }


WRITERS = list(_writers(pathlib.Path(ROOT)))


def _needs(name: str) -> None:
    if name.startswith("mine"):
        pytest.importorskip("grpc", reason="mine needs the [mine] extra (grpcio)")
    if name.startswith("keygen"):
        pytest.importorskip("nacl", reason="keygen needs the [mine] extra (PyNaCl)")


@pytest.mark.parametrize("name", WRITERS)
@pytest.mark.parametrize("case", ["a folder", "a missing folder", "a pipe", "a dangling link", "an empty name", "-"])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(cli, files, name, case):
    _needs(name)
    args, flag = _writers(files)[name]
    out = {"a folder": files / "out", "a missing folder": files / "missing" / "x.json", "a pipe": files / "fifo",
           "a dangling link": files / "dangling.json", "an empty name": "", "-": "-"}[case]
    line = _refused(cli, files, *args, flag, str(out))
    assert f"{flag} {out}" in line or (case == "an empty name" and f"{flag}: an empty file name" in line), line
    want = {"a folder": "a folder, not a file; name a file in it", "a missing folder": "does not exist",
            "a pipe": "not a regular file", "a dangling link": "a link to nothing", "an empty name": "empty",
            "-": "a file name is needed here"}[case]
    assert want in line, line


def test_a_folder_as_output_names_a_file_to_use_instead(cli, files):
    line = _refused(cli, files, "bundle", "make", "--seed", "1", "--total", "30", "--hosts", "a,b,c",
                    "-o", str(files / "out"))
    assert line == (f"exo-gay bundle make: error: -o {files / 'out'}: a folder, not a file; name a file in it "
                    f"(e.g. {files / 'out' / 'bundle.json'})")


@pytest.mark.parametrize("case", ["encode -o its --bundle", "bundle make -o its --weights-from",
                                  "partition --svg its --cluster", "mine --out its --bundle",
                                  "mine --journal its --bundle", "mine --out its --journal",
                                  "mine --out its --key-file", "mine --out its --cluster"])
def test_an_output_that_is_one_of_the_inputs_is_refused(cli, files, case):
    b, w = files / "bundle.json", files / "weights.json"
    cluster = files / "cluster.json"
    cluster.write_text(open(CLUSTER).read())
    journal, key = files / "run.journal", files / "cluster.key"
    journal.write_text("")
    key.write_text("00" * 32 + "\n")
    alias = files / "out" / ".." / "bundle.json"  # another spelling of the same file
    args = {
        "encode -o its --bundle": ["game", "disguise", "encode", "--bundle", str(b), "--message", "hi",
                                   "-o", str(alias)],
        "bundle make -o its --weights-from": ["bundle", "make", "--seed", "1", "--total", "43", "--hosts", "a,b",
                                              "--weights-from", str(w), "-o", str(w)],
        "partition --svg its --cluster": ["partition", "--model", "llama-3.2-1b", "--cluster", str(cluster),
                                          "--svg", str(cluster)],
        "mine --out its --bundle": ["mine", "--bundle", str(b), "--out", str(alias)],
        "mine --journal its --bundle": ["mine", "--bundle", str(b), "--journal", str(b)],
        "mine --out its --journal": ["mine", "--bundle", str(b), "--journal", str(journal), "--out", str(journal)],
        "mine --out its --key-file": ["mine", "--bundle", str(b), "--key-file", str(key), "--out", str(key)],
        "mine --out its --cluster": ["mine", "--bundle", str(b), "--cluster", str(cluster), "--out", str(cluster)],
    }[case]
    if case.startswith("mine"):
        _needs("mine")
    line = _refused(cli, files, *args)
    assert "the same file as" in line and "name another file" in line, line


def test_a_link_to_an_input_is_the_same_file(cli, files):
    os.symlink(files / "bundle.json", files / "link.json")
    line = _refused(cli, files, "game", "disguise", "encode", "--bundle", str(files / "bundle.json"),
                    "--message", "hi", "-o", str(files / "link.json"))
    assert f"the same file as --bundle {files / 'bundle.json'}" in line


@pytest.mark.parametrize("shared", [False, True])
def test_a_key_file_is_never_overwritten(cli, files, shared):
    _needs("keygen")
    key = files / "node.key"
    key.write_text("precious\n")
    line = _refused(cli, files, "keygen", *(["--shared"] if shared else []), "--out", str(key))
    assert line == (f"exo-gay keygen: error: --out {key}: exists (a key file is never overwritten); "
                    "remove it or name another")
    assert key.read_text() == "precious\n"


def test_other_outputs_are_replaced_whole_once_the_work_is_done(cli, files):
    """The policy of docs/cli.md: an existing output (not a key) is replaced atomically, after the work."""
    out = files / "mask.json"
    out.write_text("old\n")
    r = cli("game", "disguise", "encode", "--bundle", str(files / "bundle.json"), "--message", "hi", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("{") and '"game": "disguise"' in out.read_text()
    assert not [p for p in os.listdir(files) if p.startswith(".tmp-")]  # no temporary file left behind
    r = cli("bundle", "make", "--seed", "1", "--total", "30", "--hosts", "a,b,c", "-o", str(out))
    assert r.returncode == 0 and '"ranges"' in out.read_text()


def test_a_refused_output_is_refused_before_the_work(cli, files):
    """--compute-expected over 1e15 colors would run for hours: the folder is refused at once."""
    r = cli("bundle", "make", "--seed", "1", "--total", "1e15", "--hosts", "a,b,c", "--compute-expected",
            "-o", str(files / "out"), timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "a folder" in r.stderr


# ---------------------------------------------------------------- options in the wrong place

@pytest.mark.parametrize("args,message", [
    (["--threads", "2", "fingerprint", "--seed", "1", "--count", "5"],
     "exo-gay: error: --threads is an option of exo-gay fingerprint, so it goes after the command: "
     "exo-gay fingerprint --threads 2 --seed 1 --count 5 (see exo-gay --help)"),
    (["--threads=2", "game", "furthest", "--seed", "1", "--count", "5"],
     "exo-gay: error: --threads=2 is an option of exo-gay game furthest, so it goes after the command: "
     "exo-gay game furthest --threads=2 --seed 1 --count 5 (see exo-gay --help)"),
    (["--json", "bundle", "check", "b.json"],
     "exo-gay: error: --json is an option of exo-gay bundle check, so it goes after the command: "
     "exo-gay bundle check --json b.json (see exo-gay --help)"),
    (["game", "--threads", "1", "fixed", "--seed", "1", "--count", "5"],
     "exo-gay game: error: --threads is an option of exo-gay game fixed, so it goes after the command: "
     "exo-gay game fixed --threads 1 --seed 1 --count 5 (see exo-gay game --help)"),
    (["--threads", "2"], "exo-gay: error: --threads is an option of a command and goes after it, "
                         "e.g. exo-gay fingerprint --threads 2 ... (commands that take it: fingerprint, "),
    (["--threads", "2", "bundle", "check", "b.json"],
     "exo-gay: error: --threads is an option of neither exo-gay nor exo-gay bundle check "
     "(commands that take it: fingerprint, "),
])
def test_an_option_before_its_command_says_where_it_goes(cli, tmp_path, args, message):
    line = _refused(cli, tmp_path, *args)
    assert line.startswith(message), line
    assert "invalid choice" not in line


# ---------------------------------------------------------------- --help examples run as written

MY_COMMANDS = ("fingerprint", "colors", "gayhy", "bundle", "game")  # other commands' examples: their own tests


def _example_lines(epilog: str) -> list[str]:
    """An epilog's examples as shell lines: continuations joined, comments dropped."""
    text = epilog.split("examples:", 1)[1].replace("\\\n", " ")
    return [s.strip() for s in text.splitlines() if s.strip() and not s.strip().startswith("#")]


def _commands(line: str) -> list[list[str]]:
    return [argv[1:] for part in line.split("|") for argv in [shlex.split(part)] if argv and argv[0] == "exo-gay"]


def _mine(line: str) -> bool:
    return all(argv and (argv[0] in MY_COMMANDS or argv == ["--help"] or argv[-1] == "--help")
               for argv in _commands(line))


HELPS = {p.prog: _example_lines(p.epilog) for p in parsers(exo_cli.build_parser())
         if p.epilog and (p.prog == "exo-gay" or p.prog.split()[1] in MY_COMMANDS)}


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    """A folder with an `exo-gay` on PATH that runs this checkout's CLI with this Python."""
    bin_dir = tmp_path_factory.mktemp("bin")
    script = bin_dir / "exo-gay"
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m exo_gay \"$@\"\n")
    script.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("prog", sorted(HELPS))
def test_the_examples_in_the_help_run_as_written_in_order(prog, shim, tmp_path):
    """In an empty folder (with the checkout's configs/, which examples name), each example runs after the
    ones before it, as a newcomer pastes them: exit 0, no traceback."""
    os.symlink(CONFIGS, tmp_path / "configs")
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    ran = 0
    for line in HELPS[prog]:
        if not _mine(line):
            continue  # e.g. `exo-gay mine` in the overview: tested with the mine command
        r = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, f"`{line}` in {prog} --help: {r.stderr}"
        ran += 1
    assert ran >= 1


def _outputs(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-o", "--out", "--svg", "--journal")]


def test_examples_never_overwrite_another_examples_output():
    """Across every --help: a file name that examples write is written by one command line only (the same
    bundle.json everywhere), so pasting examples from two helps never replaces one file with another."""
    writers: dict[str, set[str]] = {}
    for p in parsers(exo_cli.build_parser()):
        for line in _example_lines(p.epilog or "examples:"):
            for argv in _commands(line):
                for out in _outputs(argv):
                    writers.setdefault(out, set()).add(shlex.join(argv))
    clashes = {out: sorted(cmds) for out, cmds in writers.items() if len(cmds) > 1}
    assert clashes == {}


# ---------------------------------------------------------------- the system says no mid-run

def test_a_closed_pipe_is_quiet_and_a_failed_write_is_one_line(shim, tmp_path):
    """`exo-gay colors ... | true`: the reader left, nothing on stderr.  A write the system refuses
    mid-way (/proc takes no new file, which no check up front sees) is one line and exit 1."""
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(["bash", "-c", "exo-gay colors --seed 1 --count 1e6 | true; echo ${PIPESTATUS[0]} >&2"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.stderr.strip() in ("0", "1"), r.stderr  # 0 when all of it fitted the pipe first; never a traceback
    r = subprocess.run(["bash", "-c", "exo-gay bundle make --seed 1 --total 30 --hosts a,b,c -o /proc/version"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    lines = r.stderr.splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("exo-gay bundle make: error: ")
