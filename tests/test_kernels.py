"""Every backend against the pure-Python reference, and the self-check that refuses bad ones."""

import random

import pytest

from exo_gay import gayhy, kernels, spi
from exo_gay.kernels import BackendRefused, checked, get_backend, self_check
from exo_gay.kernels.reference import PythonReference
from exo_gay.registry import get_reduction
from exo_gay.runner import reduce_range


@pytest.fixture(params=kernels.backend_names())
def backend(request):
    return get_backend(request.param)


def _cases():
    rng = random.Random(42)
    top = spi.INDEX_SPACE
    zero = spi.zero_color_index(spi.IHOR_SEED)
    cases = [(spi.IHOR_SEED, 0, 1), (spi.IHOR_SEED, 0, 4099), (0, top - 777, 777), (spi.MASK64, top - 64, 64),
             (spi.IHOR_SEED, zero - 100, 201)]
    cases += [(rng.getrandbits(64), rng.getrandbits(63), rng.randrange(1, 3000)) for _ in range(10)]
    return cases


@pytest.mark.parametrize("seed,start,count", _cases())
def test_canonical_equals_reference(backend, seed, start, count):
    assert backend.xor_piece(seed, start, count, "canonical") == spi.xor_range(seed, start, count)


def test_zero_color_is_inside_a_checked_range(backend):
    seed = spi.IHOR_SEED
    zero = spi.zero_color_index(seed)
    # XOR over [zero, zero+1) is the color 0 itself: a kernel that skips or misplaces it shows here.
    assert backend.xor_piece(seed, zero, 1, "canonical") == 0
    neighbours = spi.color_at(seed, zero - 1) ^ spi.color_at(seed, zero + 1)
    assert backend.xor_piece(seed, zero - 1, 3, "canonical") == neighbours


@pytest.mark.parametrize("start,count", [(0, 1), (0, 5000), ((1 << 32) - 1000, 1000), (123456789, 333)])
def test_turbo32_equals_reference(backend, start, count):
    for seed in (spi.IHOR_SEED, spi.GAY_SEED):
        assert backend.xor_piece(seed, start, count, "gayhy-turbo32") == gayhy.turbo32_xor(seed, start, count)


def test_unknown_algorithm_is_refused(backend):
    with pytest.raises(ValueError):
        backend.xor_piece(0, 0, 10, "sha256")


class _Miscompiled:
    """A backend that returns 0, as GCC 12 -O3 -mavx2 was seen to: the self-check must refuse it."""
    name = "miscompiled"
    device = "cpu"

    def xor_piece(self, seed, start, count, algorithm):
        return 0


class _OffByOne:
    """Skips the last color of every piece: wrong only on odd tails."""
    name = "off-by-one"
    device = "cpu"

    def xor_piece(self, seed, start, count, algorithm):
        return PythonReference().xor_piece(seed, start, max(0, count - 1), algorithm)


def test_self_check_refuses_wrong_kernels():
    assert "got 0x0" in self_check(_Miscompiled())
    assert self_check(_OffByOne()) is not None
    assert self_check(get_backend("python")) is None


class _GamesOffByOne(PythonReference):
    """Right fingerprints, but the furthest scan misses the last color of every piece."""
    name = "games-off-by-one"

    def furthest_piece(self, seed, start, count):
        return spi.furthest_range(seed, start, max(0, count - 1))


@pytest.mark.parametrize("family", kernels.FAMILIES)
def test_every_backend_passes_every_family(family):
    for name in kernels.backend_names():
        assert self_check(get_backend(name, family), family) is None


def test_the_games_family_is_checked_before_a_game_runs_on_a_backend():
    wrong = _GamesOffByOne()
    assert self_check(wrong, "xor") is None
    assert "furthest_piece" in self_check(wrong, "games")
    assert checked(wrong, "xor") is wrong
    with pytest.raises(BackendRefused, match="FAILED its known-answer self-check"):
        reduce_range(1, 0, 100, reduction=get_reduction("furthest"), backend=wrong)
    # a backend with no game pieces at all is refused for games, not crashed into
    assert "raised AttributeError" in self_check(_Miscompiled(), "games")


def test_a_refused_backend_is_not_used(monkeypatch):
    kernels.register_backend("miscompiled", __name__, "_Miscompiled", first=True)
    try:
        with pytest.raises(BackendRefused, match="FAILED its known-answer self-check"):
            get_backend("miscompiled")
        # auto skips it, loudly, and takes the next one
        assert get_backend("auto").name != "miscompiled"
    finally:
        kernels._REGISTRY.pop("miscompiled")


def test_unknown_backend():
    with pytest.raises(BackendRefused, match="unknown backend"):
        get_backend("quantum")


def _random_ranges(rng, n):
    """(seed, start, count) with counts around the lane-block sizes and starts at the top of the space."""
    top = spi.INDEX_SPACE
    out = []
    for _ in range(n):
        count = rng.choice([rng.randrange(0, 40), rng.randrange(40, 3000)])
        last = top - count
        start = rng.choice([rng.randrange(0, last + 1), last, rng.randrange(max(0, last - 50), last + 1)])
        out.append((rng.getrandbits(64), start, count))
    return out


# The compiled kernel for targets of every vector width this CPU can run: the same IR is
# split into 512-, 256- or 128-bit registers (and AVX-512's vpmullq/vpternlogq or AVX2's
# vpmuludq sequences), so each width is its own machine code to check.
_TARGETS = {"native": None, "haswell (AVX2)": ("haswell", ""), "x86-64 (SSE2)": ("x86-64", "")}


@pytest.fixture(scope="module", params=list(_TARGETS))
def compiled(request):
    from exo_gay.kernels import llvm_cpu

    name_features = _TARGETS[request.param] or llvm_cpu.target()
    if name_features[0] in ("haswell", "x86-64") and not _host_has(name_features[0]):
        pytest.skip(f"this CPU cannot run code for {request.param}")
    return llvm_cpu.compile_kernels(*name_features, use_cache=False)  # the dict keeps the code alive


def _host_has(cpu: str) -> bool:
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    if cpu == "x86-64":
        return True
    with open("/proc/cpuinfo") as f:
        flags = next((ln for ln in f if ln.startswith("flags")), "").split()
    return {"avx2", "fma", "bmi2"} <= set(flags)


def test_compiled_canonical_equals_spi_on_random_ranges(compiled):
    kernel = compiled["canonical"]
    for seed, start, count in _random_ranges(random.Random(0x5EED), 60):
        x0 = (seed + start * spi.GOLDEN) & spi.MASK64
        assert kernel(x0, count) == spi.xor_range(seed, start, count), (seed, start, count)


def test_compiled_turbo32_equals_gayhy_on_random_ranges(compiled):
    kernel = compiled["gayhy-turbo32"]
    rng = random.Random(32)
    for _ in range(40):
        count = rng.choice([rng.randrange(0, 70), rng.randrange(70, 3000)])
        start = rng.choice([rng.randrange(0, (1 << 32) - count + 1), (1 << 32) - count])
        seed = rng.getrandbits(64)
        x0 = (seed + start * gayhy.GOLDEN32) & 0xFFFFFFFF
        assert kernel(x0, count) == gayhy.turbo32_xor(seed, start, count), (seed, start, count)


def test_canonical_across_the_wrap_of_the_index_space():
    # A range that ends exactly at 2**64 and one that crosses the state's wrap (seed near 2**64).
    from exo_gay.kernels.cpu import xor_canonical

    top = spi.INDEX_SPACE
    for seed in (spi.MASK64, spi.MASK64 - spi.GOLDEN, spi.IHOR_SEED):
        for count in (1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000):
            assert xor_canonical(seed, top - count, count) == spi.xor_range(seed, top - count, count)


def test_compiled_code_is_cached_outside_the_package_and_reused(tmp_path):
    # A fresh process with an empty cache folder writes the machine code there; a second
    # process loads it; nothing is written beside the package.
    import os
    import subprocess
    import sys

    import exo_gay

    code = ("from exo_gay.kernels import llvm_cpu; llvm_cpu.kernel('canonical'); "
            "print(llvm_cpu._loaded['cache_file'])")
    env = dict(os.environ, EXO_GAY_CACHE=str(tmp_path))
    env.pop("NUMBA_CPU_NAME", None)
    env.pop("NUMBA_CPU_FEATURES", None)
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    path = first.stdout.strip()
    assert path.startswith(str(tmp_path / "kernels")) and os.path.getsize(path) > 0
    mtime = os.stat(path).st_mtime_ns
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert second.stdout.strip() == path and os.stat(path).st_mtime_ns == mtime
    package = os.path.dirname(exo_gay.__file__)
    assert not any(f.endswith(".o") for _, _, files in os.walk(package) for f in files)


def test_numba_game_kernels_cache_in_our_folder(tmp_path):
    import os
    import subprocess
    import sys

    code = ("from exo_gay.kernels import games_numba; print(games_numba.furthest_piece(7202985, 0, 1000))")
    env = dict(os.environ, EXO_GAY_CACHE=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(spi.furthest_range(7202985, 0, 1000))
    cached = [f for _, _, files in os.walk(tmp_path / "numba") for f in files]
    assert any(f.startswith("games_numba.furthest_scan") and f.endswith(".nbi") for f in cached), cached


def test_numba_turbo32_on_random_ranges():
    be = get_backend("numba-cpu")
    rng = random.Random(32)
    for _ in range(20):
        count = rng.randrange(0, 2000)
        start = rng.choice([rng.randrange(0, (1 << 32) - count + 1), (1 << 32) - count])
        seed = rng.getrandbits(64)
        assert be.xor_piece(seed, start, count, "gayhy-turbo32") == gayhy.turbo32_xor(seed, start, count)


def test_the_bench_calls_a_machine_busy_when_another_process_burns_a_core():
    # Real processes spin on a third of the cores while the meter runs: their share is others'.
    import os
    import subprocess
    import sys
    import time

    from exo_gay.bench import LoadMeter, load_text

    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range((os.cpu_count() or 1) // 3 + 1)]
    try:
        time.sleep(0.3)
        meter = LoadMeter()
        time.sleep(1.5)
        load = meter.report()
    finally:
        for b in burners:
            b.kill()
            b.wait()
    assert load["busy"] and load["others_share"] >= 0.15, load
    assert load_text(load).startswith("BUSY machine")
