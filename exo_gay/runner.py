"""The local runner: one reduction over one range, on every core of this machine.

Worker threads (concurrent.futures) pull chunks from a shared cursor (a slow core never holds
the rest back) and call a backend's piece, which releases the GIL.  Progress is reported per chunk; chunks
are large enough that the Python around them is noise, small enough that cancelling is quick.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Callable

from .errors import InputError
from .kernels import resolve
from .reductions import XOR, Reduction
from .spi import check_range

MIN_CHUNK = 1 << 20
MAX_CHUNK = 1 << 28


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def chunk_size(count: int, threads: int) -> int:
    # ~16 chunks per thread balances the load; clamp for overhead and responsiveness.
    return max(MIN_CHUNK, min(MAX_CHUNK, count // (threads * 16) or 1))


def reduce_range(seed: int, start: int, count: int, algorithm: str = "canonical",
                 reduction: Reduction = XOR, threads: int | None = None, backend: Any = "auto",
                 on_progress: Callable[[int], None] | None = None,
                 cancel: threading.Event | None = None) -> Any:
    """The reduction's value over [start, start + count), computed on ``threads`` cores."""
    check_range(start, count)
    if algorithm not in reduction.algorithms:
        raise InputError(f"{reduction.name} does not support algorithm {algorithm!r}")
    be = resolve(backend, reduction.family)
    threads = max(1, threads or default_threads())
    if count == 0:
        return reduction.identity
    chunk = chunk_size(count, threads)
    end = start + count
    starts = iter(range(start, end, chunk))  # the shared cursor: each worker takes the next chunk
    lock = threading.Lock()
    cancel = cancel or threading.Event()

    def work() -> Any:
        acc = reduction.identity
        while not cancel.is_set():
            with lock:
                a = next(starts, None)
            if a is None:
                return acc
            n = min(chunk, end - a)
            acc = reduction.combine(acc, reduction.piece(be, seed, a, n, algorithm))
            if on_progress:
                on_progress(n)
        return acc

    workers = min(threads, -(-count // chunk))
    if workers == 1:
        results = [work()]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="exo-gay-runner") as pool:
            futures = [pool.submit(work) for _ in range(workers)]
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
            finally:  # a failed worker, or Ctrl-C here: the others stop after their chunk
                if any(f.done() and f.exception() for f in futures) or not all(f.done() for f in futures):
                    cancel.set()
        results = [f.result() for f in futures]  # raises a worker's failure here, in the caller
    if cancel.is_set():
        raise InterruptedError("cancelled")
    value = reduction.identity
    for r in results:
        value = reduction.combine(value, r)
    return value
