"""The in-process adapter against exo v1's real code, and exo's own placement tests beside it.

Both run inside exo v1's venv (tests/exo_v1_env.py builds it once from the snapshot, with
exo-gay from this checkout installed in it).
"""

from __future__ import annotations

import re
import subprocess

from exo_v1_env import EXO_PLACEMENT_TESTS, REPO, exo_v1  # noqa: F401  (the session fixture)


def _summary(out: str) -> str:
    lines = [ln for ln in out.strip().splitlines() if re.search(r"\d+ (passed|failed|error)", ln)]
    return lines[-1] if lines else out[-2000:]


def test_adapter_with_exos_real_types(exo_v1, tmp_path):  # noqa: F811
    env_cards = {"EXO_V1_CARDS": str(exo_v1.cards_dir)}
    env = {**exo_v1.env(tmp_path), **env_cards}
    r = subprocess.run([str(exo_v1.python), "-m", "pytest", "-q", "-c", str(REPO / "tests/exo_v1_inside/pytest.ini"),
                        str(REPO / "tests/exo_v1_inside")], env=env, cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.search(r"\b7 passed\b", _summary(r.stdout)), r.stdout[-2000:]


def test_exos_own_placement_tests_pass_beside_exo_gay(exo_v1, tmp_path):  # noqa: F811
    probe = exo_v1.run(["-c", "import exo_gay.exov1.adapter, exo.master.placement; print('both')"], tmp_path)
    assert probe.stdout.strip() == "both", probe.stderr[-2000:]
    r = exo_v1.run(["-m", "pytest", "-q", "-p", "no:cacheprovider", *EXO_PLACEMENT_TESTS], tmp_path,
                   cwd=exo_v1.exo_dir)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.search(r"\b51 passed\b", _summary(r.stdout)), _summary(r.stdout)


PROBE = "import exo.main, exo.master.placement as p; print(getattr(p.get_shard_assignments, 'exo_gay', False))"


def test_opt_in_as_on_legacy_exo(exo_v1, tmp_path):  # noqa: F811
    """EXO_PARTITIONING_STRATEGY=gay: exo-gay's .pth hook patches exo v1's placement before exo.main loads."""
    on = subprocess.run([str(exo_v1.python), "-c", PROBE], capture_output=True, text=True, timeout=300,
                        env={**exo_v1.env(tmp_path), "EXO_PARTITIONING_STRATEGY": "gay"})
    assert on.stdout.strip() == "True", on.stderr[-3000:]
    off = exo_v1.run(["-c", PROBE], tmp_path, timeout=300)
    assert off.stdout.strip() == "False", off.stderr[-3000:]
