"""A plan forced on a legacy exo node, for benchmarks/bench_plans_real.py (on PYTHONPATH of each node only).

Imported at interpreter start. First it runs the tests' probe (tests/exo_probe/sitecustomize.py, named by
EXO_GAY_BENCH_TESTS_PROBE): the API on 127.0.0.1, `exo-gay-test: loaded` / `tokens` lines. Then, with
EXO_GAY_BENCH_PLAN_FILE set, exo's RingMemoryWeightedPartitioningStrategy is replaced (before exo.main
imports it by name) by a subclass whose partition() returns the plan in that file, re-read whenever the
file is replaced (the benchmark switches plans between requests without restarting the ring):

    {"name": "...", "partitions": [[node_id, start, end], ...]}   the partitions, in pipeline order
    {"name": "...", "partitions": null}                           exo's own memory-weighted split

Each change of the returned partitions is logged once: `exo-gay-bench: plan {"name", "partitions"}`.
No file of exo or exo-gay changes.
"""

import importlib
import json
import os
import runpy
import sys

_tests_probe = os.environ.get("EXO_GAY_BENCH_TESTS_PROBE")
if _tests_probe:
    runpy.run_path(_tests_probe, run_name="exo_gay_tests_probe")


def _force_plan(pkg: str, path: str) -> None:
    mod = importlib.import_module(f"{pkg}.topology.ring_memory_weighted_partitioning_strategy")
    ps = importlib.import_module(f"{pkg}.topology.partitioning_strategy")
    exo_default = mod.RingMemoryWeightedPartitioningStrategy

    class ForcedPlan(exo_default):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._stamp = None
            self._plan = {"name": "exo default", "partitions": None}
            self._logged = None

        def _read(self):
            try:
                st = os.stat(path)
                stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    with open(path) as f:
                        self._plan = json.load(f)
                except (OSError, ValueError):
                    self._plan = {"name": "exo default", "partitions": None}
            return self._plan

        def partition(self, topology):
            plan = self._read()
            if plan.get("partitions") is None:
                parts = super().partition(topology)
            else:
                parts = [ps.Partition(n, float(a), float(b)) for n, a, b in plan["partitions"]]
            key = (plan.get("name"), tuple((p.node_id, p.start, p.end) for p in parts))
            if key != self._logged:  # exo asks many times per token: log changes only
                self._logged = key
                print("exo-gay-bench: plan " + json.dumps({"name": plan.get("name"), "partitions": [
                    [p.node_id, p.start, p.end] for p in parts]}), flush=True)
            return parts

    mod.RingMemoryWeightedPartitioningStrategy = ForcedPlan


_pkg = os.environ.get("EXO_GAY_TEST_PROBE")
_plan_file = os.environ.get("EXO_GAY_BENCH_PLAN_FILE")
if _pkg in ("exo", "exe") and _plan_file:
    try:
        _force_plan(_pkg, _plan_file)
    except Exception as e:  # a probe that cannot install must not pass for exo's own failure
        print(f"exo-gay-bench: plan probe failed to install: {e.__class__.__name__}: {e}", file=sys.stderr,
              flush=True)
        raise
