"""fingerprint, colors, gayhy and bench, run as a user runs them: real processes, real output."""

import json
import logging
import os

import pytest

from exo_gay import cli as exo_cli
from exo_gay import gayhy, kernels, spi


def test_fingerprint_json_matches_reference(cli):
    r = cli("fingerprint", "--seed", "0x6761795f636f6c6f", "--start", "18446744073709550616", "--count", "1e3",
            "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    want = spi.xor_range(spi.GAY_SEED, spi.INDEX_SPACE - 1000, 1000)
    assert out["xor"] == spi.hex64(want)
    assert out["seed"] == spi.GAY_SEED and out["count"] == 1000 and out["algorithm"] == "canonical"
    for key in ("start", "seconds", "colors_per_second", "backend", "threads"):
        assert key in out
    assert r.stderr == ""  # --json: no progress bar


def test_fingerprint_turbo32_carries_gayhy_fp(cli):
    r = cli("fingerprint", "--seed", "7202985", "--count", "5000", "--algorithm", "gayhy-turbo32", "--threads", "2",
            "--json")
    out = json.loads(r.stdout)
    xor = gayhy.turbo32_xor(7202985, 0, 5000)
    assert out["xor"] == spi.hex64(xor)
    assert out["gayhy_fp"] == f"0x{7202985 ^ xor:08x}"


def test_fingerprint_on_the_python_backend(cli):
    r = cli("fingerprint", "--seed", "7", "--start", "12345", "--count", "3001", "--backend", "python", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["backend"] == "python" and out["xor"] == spi.hex64(spi.xor_range(7, 12345, 3001))


def test_fingerprint_plain_output(cli):
    r = cli("fingerprint", "--seed", "1", "--count", "100")
    assert r.returncode == 0
    assert f"xor={spi.hex64(spi.xor_range(1, 0, 100))}" in r.stdout


@pytest.mark.parametrize("args,fragment", [
    (["--seed", "-1", "--count", "10"], "--seed"),
    (["--seed", "18446744073709551616", "--count", "10"], "out of range"),
    (["--seed", "1", "--count", "1.5"], "not an integer"),
    (["--seed", "1", "--count", "ten"], "not an integer"),
    (["--seed", "1", "--count", "0"], "--count"),
    (["--seed", "1", "--start", "0xffffffffffffffff", "--count", "2"], "past the end"),
    (["--seed", "1", "--count", "10", "--algorithm", "gayhy-turbo32", "--start", "4294967295"], "2**32"),
    (["--seed", "1", "--count", "10", "--threads", "0"], "--threads"),
    (["--seed", "1", "--count", "10", "--backend", "quantum"], "invalid choice"),
    (["--seed", "1"], "--count"),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragment):
    r = cli("fingerprint", *args)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


def test_gayhy_prints_the_published_values(cli):
    r = cli("gayhy", "--seed", "7202985")
    assert r.returncode == 0, r.stderr
    assert "fp=0xab11046c" in r.stdout
    assert "Triadic XOR: 0x4815e08adab9dcfe" in r.stdout
    j = json.loads(cli("gayhy", "--json").stdout)
    assert j["fp"] == "0xab11046c" and j["triadic_xor"] == "0x4815e08adab9dcfe"


def test_colors(cli):
    r = cli("colors", "--seed", "0", "--count", "3", "--swatch", "never")
    lines = r.stdout.splitlines()
    assert [ln.split()[1] for ln in lines] == [spi.hex64(spi.color_at(0, i)) for i in range(3)]
    r = cli("colors", "--seed", "0", "--start", "1", "--count", "1", "--swatch", "always")
    c = spi.color_at(0, 1)
    assert f"\x1b[48;2;{(c >> 16) & 255};{(c >> 8) & 255};{c & 255}m" in r.stdout
    j = json.loads(cli("colors", "--seed", "5", "--count", "2", "--json").stdout)
    assert j[1] == {"index": 1, "color": spi.hex64(spi.color_at(5, 1)), "rgb": list(spi.rgb(spi.color_at(5, 1)))}


@pytest.mark.slow  # times every backend, fresh interpreters, and (from this checkout) the C loops
def test_bench_json_reports_rows_startup_load_and_the_c_comparison(cli):
    r = cli("bench", "--seconds", "0.05", "--threads", "1,2", "--no-games", "--c-count", "1e7", "--json",
            timeout=600)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    rows = [x for x in rep["rows"] if x.get("backend") == "numba-cpu"]
    assert {(x["what"], x["threads"]) for x in rows} >= {("canonical", 1), ("canonical", 2), ("gayhy-turbo32", 1)}
    assert all(x["colors_per_second"] > 0 for x in rows)
    warm, cold = rep["startup"]["warm"], rep["startup"]["cold"]
    assert 0 < warm["first_color_best"] <= warm["first_color_seconds"] and cold["first_color_seconds"] > 0
    assert isinstance(rep["load"]["busy"], bool) and rep["load"]["loadavg_start"] is not None
    comparison = rep["comparison"]  # this test runs from a checkout: benchmarks/kernel_vs_c.py is here
    assert comparison["single_core"]["xor_agree"]  # the C loops double as an independent check
    if comparison["whole_process"]:
        assert comparison["whole_process"]["xor_agree"]
        assert all(g["reliable"] == (not comparison["load"]["busy"]) for g in comparison["grades"])
    else:  # no C compiler here: every loop says why it is missing
        assert len(comparison["skipped"]) == 4


@pytest.mark.slow
def test_bench_text_prints_the_c_comparison_it_ran(cli):
    # the comparison's own "skipped" (the loops it left out, often none) is no reason to hide it
    r = cli("bench", "--seconds", "0.05", "--threads", "1", "--no-games", "--c-count", "1e7", timeout=600)
    assert r.returncode == 0, r.stderr
    assert "C comparison skipped" not in r.stdout
    assert "ours (this CPU)" in r.stdout


def test_bench_table_fits_80_columns_on_a_wide_terminal(cli):
    r = cli("bench", "--seconds", "0.05", "--threads", "1", "--no-c", "--no-games",
            env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any("colors/s" in line for line in lines)
    assert max(len(line) for line in lines) <= 80, r.stdout


def test_help_lists_commands(cli):
    r = cli("--help")
    for cmd in ("fingerprint", "colors", "gayhy", "bench", "exo", "doctor"):
        assert cmd in r.stdout


class _Miscompiled:
    """Returns 0 for every piece, as a miscompiled kernel does."""
    name = "miscompiled"
    device = "cpu"

    def xor_piece(self, seed, start, count, algorithm):
        return 0


@pytest.fixture
def miscompiled_first():
    kernels.register_backend("miscompiled", __name__, "_Miscompiled", first=True)
    yield
    kernels._REGISTRY.pop("miscompiled")
    logger = logging.getLogger("exo_gay")
    for h in [h for h in logger.handlers if getattr(h, "_exo_gay_cli", False)]:
        logger.removeHandler(h)


def test_a_refused_backend_is_logged_once_on_stderr_and_skipped(miscompiled_first, capsys):
    assert exo_cli.main(["fingerprint", "--seed", "1", "--count", "100", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["xor"] == spi.hex64(spi.xor_range(1, 0, 100))
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("exo-gay fingerprint: warning: backend miscompiled FAILED")
    assert lines[0].endswith("trying the next backend")
    assert exo_cli.main(["fingerprint", "--seed", "1", "--count", "100", "--backend", "miscompiled"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("exo-gay fingerprint: error: backend miscompiled FAILED")
