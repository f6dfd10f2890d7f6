"""A short measurement of this machine: memory stream (GB/s) and matmul (TFLOPS), with numpy, cached.

What it measures is the CPU's view: numpy streams through the CPU's memory system and multiplies on
its cores. That is the node's figure when it runs inference on the CPU (exo's tinygrad/MLX CPU
engines); on a GPU node the chip table's figure is the right one, and a measurement is only used
when asked for (a cluster file entry or GayShardingStrategy(measured=...) wins over the table).

The result is cached per machine (host name, CPU model, core count, numpy version) under
hostinfo.cache_root()/machine/ ($EXO_GAY_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/exo-gay), never
inside site-packages, so a node measures once.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

from ..hostinfo import cache_root, cpu_model
from ..jsonfile import atomic_write

STREAM_BYTES = 256 * 2**20  # large enough to leave every CPU cache
MATMUL_N = 1024
REPEATS = 3


def cache_dir() -> Path:
    return cache_root() / "machine"


def machine_key() -> str:
    import numpy as np

    ident = "|".join((socket.gethostname(), cpu_model(), str(os.cpu_count()), np.__version__, platform.machine()))
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def stream_gbps(nbytes: int = STREAM_BYTES, repeats: int = REPEATS) -> float:
    """Best of `repeats` copies of an nbytes array: (bytes read + bytes written) / seconds / 1e9."""
    import numpy as np

    a = np.ones(nbytes // 8, dtype=np.float64)
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.nbytes / best / 1e9


def matmul_tflops(n: int = MATMUL_N, repeats: int = REPEATS) -> float:
    """Best of `repeats` float32 n x n matmuls: 2 n^3 FLOPs / seconds / 1e12."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n), dtype=np.float32)
    y = rng.standard_normal((n, n), dtype=np.float32)
    x @ y  # warm up the BLAS threads
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        x @ y
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e12


def measure_machine(refresh: bool = False) -> dict[str, Any]:
    """{"mem_bandwidth_gbs", "tflops", "how", "cached"}: from the cache unless refresh, else measured now."""
    path = cache_dir() / f"{machine_key()}.json"
    if not refresh:
        try:
            data = json.loads(path.read_text())
            if data.get("mem_bandwidth_gbs", 0) > 0 and data.get("tflops", 0) > 0:
                return {**data, "cached": str(path)}
        except (OSError, ValueError):
            pass
    data = {"mem_bandwidth_gbs": round(stream_gbps(), 2), "tflops": round(matmul_tflops(), 4),
            "how": f"numpy on the CPU: copy of {STREAM_BYTES >> 20} MiB, float32 {MATMUL_N}^2 matmul, "
                   f"best of {REPEATS}", "cpu": cpu_model(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(str(path), json.dumps(data))  # nodes on one host may measure at once
    except OSError:
        pass  # an unwritable cache only costs a new measurement next time
    return {**data, "cached": ""}
