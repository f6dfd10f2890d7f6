"""The bridge into exo (legacy gRPC layout, or its `exe` fork); with _exo_hook, the only importer of exo.

install() makes every exo node built afterwards plan with the gay strategy (exo.main's
hard-coded strategy class is swapped), tell it the model before it plans, and let a node left
out of the plan forward prompts. Opt-in only (EXO_GAY_MINER=1, or `exo-gay exo --miner`): the
miner on exo's gRPC server and a measured FLOPS figure where exo lists none. With the miner off,
nothing beyond the planner is imported or run at exo's start (no kernel, no measurement).
Importing this module never imports exo, numba, zenoh or nacl; grpc comes with exo.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)

ENV_STRATEGY = "EXO_PARTITIONING_STRATEGY"  # "gay" selects the strategy in exo's own command
ENV_OBJECTIVE = "EXO_GAY_OBJECTIVE"  # the strategy's objective; latency unless set
ENV_TFLOPS = "EXO_GAY_TFLOPS"  # a declared fp32 figure for a chip exo does not list
ENV_MINER = "EXO_GAY_MINER"  # "1": the miner on exo's server + the color-rate FLOPS measurement (off by default)
ENV_KEEP_ALL = "EXO_GAY_KEEP_ALL_NODES"  # "1": every node gets a layer where memory allows (default: a node is
# kept only when it does not cost more; "0" says so explicitly)

PLAN_LOG_PREFIX = "exo-gay: plan "  # + one JSON object per line, whenever a node's plan changes
EXO_MODULES = ("exe.main", "exo.main")  # the order `--module` defaults in: the fork first
DEFAULT_OBJECTIVE = "latency"

# 64-bit integer operations per canonical color folded into a fingerprint:
# i*GOLDEN, +seed (2); mix = +GOLDEN, >>30, ^, *MIX1, >>27, ^, *MIX2, >>31, ^ (9); acc ^= c (1).
OPS_PER_COLOR = 12
# exo's table has fp16 = 2 x fp32 and int8 = 4 x fp32 for the chips it lists (Apple M-series):
# the reported figure keeps those ratios, so whichever field a planner reads ranks nodes alike.
FP16_PER_FP32 = 2.0
INT8_PER_FP32 = 4.0


# ---------------------------------------------------------------- policy (pure, no exo)

@dataclass(frozen=True)
class Flops:
    fp32: float
    fp16: float
    int8: float


def _flops(fp32: float) -> Flops:
    return Flops(fp32=fp32, fp16=fp32 * FP16_PER_FP32, int8=fp32 * INT8_PER_FP32)


def flops_from_color_rate(colors_per_second: float) -> Flops:
    """The figure for a measured color rate: colors/s x 12 integer ops / 1e12, as "fp32".

    A proxy, and labelled as one: it counts 64-bit integer multiply/shift/xor operations per
    second (tera-ops), not floating point.  The planner uses the ratio between nodes, and
    every node that measures runs the same kernel, so the ratio is like for like.
    """
    if not colors_per_second > 0 or colors_per_second == float("inf"):
        raise ValueError(f"color rate must be positive and finite, got {colors_per_second!r}")
    return _flops(colors_per_second * OPS_PER_COLOR / 1e12)


def flops_from_declared(text: str) -> Flops:
    """A figure the operator declares (EXO_GAY_TFLOPS, fp32 TFLOPS), same fp16/int8 ratios."""
    try:
        fp32 = float(text)
    except ValueError:
        raise ValueError(f"{ENV_TFLOPS}={text!r} is not a number") from None
    if not fp32 > 0 or fp32 == float("inf"):
        raise ValueError(f"{ENV_TFLOPS}={text!r} must be a positive finite number")
    return _flops(fp32)


def exo_knows_chip(flops: Any) -> bool:
    """exo's table had the chip when any of its figures is non-zero."""
    return any(float(getattr(flops, f, 0) or 0) > 0 for f in ("fp32", "fp16", "int8"))


def miner_on(environ=os.environ) -> bool:
    """The miner is opt-in on exo nodes: EXO_GAY_MINER=1 (or true/yes/on)."""
    return environ.get(ENV_MINER, "").strip().lower() in ("1", "true", "yes", "on")


def is_left_out(partitions: list[Any], node_id: str) -> bool:
    return all(p.node_id != node_id for p in partitions)


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package raises, not returns None
        return False


def default_module(is_importable: Callable[[str], bool] = importable) -> str | None:
    """exe.main when the fork is importable, else exo.main, else None."""
    return next((m for m in EXO_MODULES if is_importable(m)), None)


def package_root(module: str) -> str:
    return module.split(".", 1)[0]


# ---------------------------------------------------------------- measurement

def measure_color_rate(min_seconds: float = 0.2, max_count: int = 1 << 34,
                        threads: int | None = None, backend: str = "auto") -> tuple[float, str]:
    """Colors/s of this machine's best backend on all its cores, over >= min_seconds.

    The backend's JIT and self-check happen before the clock starts; the count doubles from
    2^20 until one run takes min_seconds (bounded by max_count).
    """
    from .kernels import get_backend
    from .runner import reduce_range

    be = get_backend(backend)
    reduce_range(0, 0, 1 << 16, threads=1, backend=be)  # warm: compile, caches
    count = 1 << 20
    while True:
        t0 = time.perf_counter()
        reduce_range(0x6761795F636F6C6F, 0, count, threads=threads, backend=be)
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds or count >= max_count:
            return count / max(elapsed, 1e-9), be.name
        count *= 2


# ---------------------------------------------------------------- exo side (lazy imports)

_installed: dict[str, bool] = {}


def _exo(root: str, sub: str):
    return importlib.import_module(f"{root}.{sub}")


def make_strategy_class(root: str = "exo") -> type:
    """An exo PartitioningStrategy subclass that plans with GayShardingStrategy.

    exo constructs it with no arguments; the objective comes from EXO_GAY_OBJECTIVE.
    """
    ps = _exo(root, "topology.partitioning_strategy")
    from .strategies.gay_strategy import GayShardingStrategy

    class GayPartitioningStrategy(ps.PartitioningStrategy):
        exo_gay = True

        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("objective", os.environ.get(ENV_OBJECTIVE, DEFAULT_OBJECTIVE))
            keep = os.environ.get(ENV_KEEP_ALL)
            if keep is not None and keep.strip() != "":
                kwargs.setdefault("keep_all_nodes", keep.strip().lower() not in ("0", "false", "no"))
            self.planner = GayShardingStrategy(**kwargs)
            self._model: tuple[str, int] | None = None
            self._last_plan: tuple | None = None

        def observe_model(self, model_id: str, n_layers: int) -> None:
            if self._model != (model_id, n_layers):  # called on every hop: only news goes on
                self.planner.observe_model(model_id, n_layers)
                self._model = (model_id, n_layers)

        def partition(self, topology: Any) -> list:
            # exo's own Partition type, so nothing downstream depends on ours
            parts = [ps.Partition(p.node_id, p.start, p.end) for p in self.planner.partition(topology)]
            key = (self._model, tuple((p.node_id, p.start, p.end) for p in parts))
            if key != self._last_plan:  # exo asks dozens of times per token: log changes only
                self._last_plan = key
                log_plan(self._model, parts, list(getattr(topology, "nodes", {})), self.planner.costs)
            return parts

    return GayPartitioningStrategy


def plan_record(model: tuple[str, int] | None, partitions: list[Any], node_ids: list[str],
                costs: Any = None) -> dict:
    """What a node logs when its plan changes: the model, where its costs came from, the pipeline,
    who is left out. Nothing in it depends on the node that logs it."""
    used = [p.node_id for p in partitions]
    rec = {"model": model[0] if model else None, "n_layers": model[1] if model else None,
           "partitions": [[p.node_id, p.start, p.end] for p in partitions],
           "left_out": sorted(n for n in node_ids if n not in used)}
    if costs is not None:
        rec["costs"] = costs.source
        rec["weight_bytes"] = costs.total_weight_bytes()
    return rec


def log_plan(model, partitions, node_ids, costs: Any = None) -> None:
    log.info(PLAN_LOG_PREFIX + json.dumps(plan_record(model, partitions, node_ids, costs)))


def ensure_log_handler() -> None:
    """exo configures no logging: exo-gay's INFO records (the plan lines) go to the node's stdout
    through a plain handler, unless someone other than exo-gay's own command configured logging."""
    pkg = logging.getLogger("exo_gay")
    others = [h for h in pkg.handlers if not getattr(h, "_exo_gay_cli", False)]
    if others or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    pkg.addHandler(handler)
    if pkg.level == logging.NOTSET or pkg.level > logging.INFO:
        pkg.setLevel(logging.INFO)


def _is_ours(strategy: Any) -> bool:
    return bool(getattr(strategy, "exo_gay", False))


def _patch_node(root: str) -> None:
    node_mod = _exo(root, "orchestration.node")
    Node = node_mod.Node
    if getattr(Node, "_exo_gay_patched", False):
        return
    original_shard = Node.get_current_shard
    original_prompt = Node.process_prompt

    def get_current_shard(self, base_shard, index=None):
        strategy = self.partitioning_strategy
        if _is_ours(strategy):
            strategy.observe_model(base_shard.model_id, base_shard.n_layers)
        return original_shard(self, base_shard, index)

    async def process_prompt(self, base_shard, prompt, request_id=None, inference_state=None):
        inference_state = {} if inference_state is None else inference_state  # exo's default, fresh per call
        strategy = self.partitioning_strategy
        if _is_ours(strategy):
            strategy.observe_model(base_shard.model_id, base_shard.n_layers)
            if is_left_out(strategy.partition(self.topology), self.id):
                # exo would raise "No current partition found"; the API node is not in the
                # pipeline, so hand the prompt to its head. Tokens come back to this node
                # through exo's broadcast of results to every peer.
                request_id = request_id or str(uuid.uuid4())
                await self.forward_prompt(base_shard, prompt, request_id, 0, inference_state)
                return None
        return await original_prompt(self, base_shard, prompt, request_id, inference_state)

    Node.get_current_shard = get_current_shard
    Node.process_prompt = process_prompt
    Node._exo_gay_patched = True


def fill_flops(node: Any, root: str = "exo", log: Callable[[str], None] = log.info,
               measure: bool = True) -> Flops | None:
    """Replace exo's 0-TFLOPS figure of an unknown chip by a declared one, or (``measure``) a measured one."""
    caps = node.device_capabilities
    if exo_knows_chip(caps.flops):
        return None
    declared = os.environ.get(ENV_TFLOPS)
    if declared:
        flops, how = flops_from_declared(declared), f"declared by {ENV_TFLOPS}"
    elif not measure:
        return None
    else:
        rate, backend = measure_color_rate()
        flops, how = flops_from_color_rate(rate), f"measured {rate / 1e9:.3f} G colors/s on {backend}"
    dc = _exo(root, "topology.device_capabilities")
    node.device_capabilities = dc.DeviceCapabilities(
        model=caps.model, chip=caps.chip, memory=caps.memory,
        flops=dc.DeviceFlops(fp32=flops.fp32, fp16=flops.fp16, int8=flops.int8))
    log(f"exo-gay: {caps.chip}: exo lists no TFLOPS; {how} -> fp32 {flops.fp32:.4f} TFLOPS (proxy)")
    return flops


def add_miner(server: Any, node_id: str, log: Callable[[str], None] = log.info) -> bool:
    """Register the miner servicer on exo's grpc.aio server (before it starts), when EXO_GAY_MINER=1."""
    if not miner_on():
        return False
    from .mesh import service

    try:  # with grpc.health.v1 from our own messages, which load under exo's pinned protobuf
        service.add_miner_to_server(server, node_id)
    except Exception as e:  # the node's first job is inference: a miner that fails stays off
        log(f"exo-gay: miner not registered on node {node_id}: {e.__class__.__name__}: {e}")
        return False
    log(f"exo-gay: miner service registered on exo's gRPC server of node {node_id}")
    return True


def _patch_server(root: str) -> None:
    grpc_server = _exo(root, "networking.grpc.grpc_server")
    stubs = grpc_server.node_service_pb2_grpc
    if getattr(stubs.add_NodeServiceServicer_to_server, "_exo_gay", False):
        return
    original = stubs.add_NodeServiceServicer_to_server

    def add_NodeServiceServicer_to_server(servicer, server):
        original(servicer, server)
        node = getattr(servicer, "node", None)
        if node is None or not _is_ours(getattr(node, "partitioning_strategy", None)):
            return
        # Node.start() detected the capabilities just before it started the server, and
        # collects the topology right after: the one moment to fix the figure and add a service.
        # Without the miner: a declared figure only (an env lookup), no kernel, no measurement.
        mine = miner_on()
        fill_flops(node, root, measure=mine)
        if mine:
            add_miner(server, node.id)

    add_NodeServiceServicer_to_server._exo_gay = True
    stubs.add_NodeServiceServicer_to_server = add_NodeServiceServicer_to_server



def install(root: str = "exo") -> type:
    """Make every exo node built after this call use the gay strategy (and, opted in, carry the miner).

    ``root`` is the package: "exo" (legacy exo) or "exe" (the seed's fork). Idempotent.
    """
    strategy_mod = _exo(root, "topology.ring_memory_weighted_partitioning_strategy")
    if not _installed.get(root):
        ensure_log_handler()
        cls = make_strategy_class(root)
        strategy_mod.RingMemoryWeightedPartitioningStrategy = cls
        main = sys.modules.get(f"{root}.main")
        if main is not None and hasattr(main, "RingMemoryWeightedPartitioningStrategy"):
            main.RingMemoryWeightedPartitioningStrategy = cls  # already imported by name
        _patch_node(root)
        _patch_server(root)
        _installed[root] = True
    return strategy_mod.RingMemoryWeightedPartitioningStrategy


def run_exo(module: str, exo_args: list[str]) -> None:
    """Run exo's main as __main__ with the strategy swapped, exactly as `python -m module`."""
    import runpy

    install(package_root(module))
    sys.argv = [module, *exo_args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def peer_channels(node: Any) -> dict[str, Any]:
    """The grpc.aio channels of a node's connected peers (GRPCPeerHandle.channel), by node id."""
    out = {}
    for peer in node.peers:
        channel = getattr(peer, "channel", None)
        if channel is not None:
            out[peer.id()] = channel
    return out


def own_address(node: Any) -> str:
    """host:port of the node's own gRPC server (its own miner), reachable from this machine."""
    host = node.server.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"[{host}]:{node.server.port}" if ":" in host else f"{host}:{node.server.port}"


def node_miners(node: Any) -> list:
    """The miners a coordinator inside this node uses: its peers over exo's own channels
    (nothing new is opened to them), and itself by the address of its own server."""
    from .mesh.peers import Peer

    peers = [Peer(node.id, address=own_address(node))]
    peers += [Peer(pid, channel=ch) for pid, ch in sorted(peer_channels(node).items()) if pid != node.id]
    return peers


async def mine_from_node(node: Any, bundle: Any, **kw: Any) -> Any:
    """Mine a bundle across the exo cluster from inside a node; the coordinator's MineReport."""
    from .mesh.coordinator import Coordinator

    return await Coordinator(bundle, node_miners(node), **kw).run()
