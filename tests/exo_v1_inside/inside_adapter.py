"""The adapter against exo v1's real types and placement (runs in exo's venv; see tests/test_exo_v1_adapter.py).

Cards are exo's own TOML files, loaded by exo's ModelCard; the cluster is built with exo's
Topology, Cycle and MemoryUsage, as exo's placement tests build theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from exo.master.placement import place_instance
from exo.master.placement_utils import allocate_layers_proportionally
from exo.shared.models.model_cards import ModelCard
from exo.shared.topology import Topology
from exo.shared.types.backends import Backend
from exo.shared.types.commands import PlaceInstance
from exo.shared.types.common import NodeId
from exo.shared.types.multiaddr import Multiaddr
from exo.shared.types.profiling import MemoryUsage, NetworkInterfaceInfo, NodeIdentity, NodeNetworkInfo
from exo.shared.types.topology import Connection, Cycle, SocketConnection
from exo.shared.types.worker.instances import InstanceMeta, MlxRingInstance
from exo.shared.types.worker.runners import ShardAssignments
from exo.shared.types.worker.shards import PipelineShardMetadata, Sharding

from exo_gay.exov1 import adapter
from exo_gay.exov1.plan import PlacementError

CARDS = Path(os.environ["EXO_V1_CARDS"])
GB = 10**9
# (name, chip, GB available): a lopsided ring, fastest node smallest
RING = [("a", "Apple M2", 22), ("b", "Apple M4", 30), ("c", "Apple M4 Pro", 45), ("d", "Apple M2 Ultra", 60)]


def card(name: str) -> ModelCard:
    return anyio.run(ModelCard.load_from_path, anyio.Path(CARDS / f"{name}.toml"))


def cluster(ring=RING):
    ids = [NodeId(f"node-{n}") for n, _, _ in ring]
    mem = {i: MemoryUsage.from_bytes(ram_total=g * GB + 4 * GB, ram_available=g * GB, swap_total=0, swap_available=0)
           for i, (_, _, g) in zip(ids, ring, strict=True)}
    ident = {i: NodeIdentity(chip_id=c, friendly_name=n) for i, (n, c, _) in zip(ids, ring, strict=True)}
    return ids, mem, ident


def tiles(sa: ShardAssignments, ids) -> list[tuple[int, int]]:
    segs = []
    for rank, nid in enumerate(ids):
        shard = sa.runner_to_shard[sa.node_to_runner[nid]]
        assert isinstance(shard, PipelineShardMetadata)
        assert shard.device_rank == rank and shard.world_size == len(ids)
        segs.append((shard.start_layer, shard.end_layer))
    return segs


@pytest.mark.parametrize("name", ["mlx-community--Llama-3.3-70B-Instruct-4bit", "mlx-community--Qwen3-30B-A3B-4bit",
                                  "mlx-community--gpt-oss-120b-MXFP4-Q8", "mlx-community--Qwen3.5-122B-A10B-4bit"])
def test_real_types_in_shard_assignments_out(name):
    mc = card(name)
    ids, mem, ident = cluster()
    sa = adapter.gay_shard_assignments(mc, Cycle(node_ids=ids), mem, ident)
    assert isinstance(sa, ShardAssignments) and sa.model_id == mc.model_id
    ShardAssignments.model_validate(sa.model_dump())  # exo's own validator accepts it
    segs = tiles(sa, ids)
    assert segs[0][0] == 0 and segs[-1][1] == mc.n_layers
    assert all(s < e for s, e in segs) and all(a[1] == b[0] for a, b in zip(segs, segs[1:], strict=False))
    for (s, e), nid in zip(segs, ids, strict=True):  # exo's own measure: storage x layers / n_layers
        assert mc.storage_size.in_bytes * (e - s) // mc.n_layers <= mem[nid].ram_available.in_bytes
    # the fastest node (M2 Ultra) carries more layers than exo's memory-proportional share gives it
    exo = allocate_layers_proportionally(mc.n_layers, [mem[i].ram_available.in_bytes / sum(
        m.ram_available.in_bytes for m in mem.values()) for i in ids])
    assert segs[-1][1] - segs[-1][0] > exo[-1]


def test_infeasible_raises_placement_error():
    mc = card("mlx-community--DeepSeek-V3.1-4bit")  # 406 GB on 157 GB
    ids, mem, ident = cluster()
    with pytest.raises(PlacementError):
        adapter.gay_shard_assignments(mc, Cycle(node_ids=ids), mem, ident)


def ring_topology(ids):
    topo = Topology()
    for i in ids:
        topo.add_node(i)
    k = len(ids)
    for j in range(k):
        a, b = ids[j], ids[(j + 1) % k]
        for s, t, ip in ((a, b, f"10.9.0.{(j + 1) % k + 1}"), (b, a, f"10.9.0.{j + 1}")):
            topo.add_connection(Connection(source=s, sink=t, edge=SocketConnection(
                sink_multiaddr=Multiaddr(address=f"/ip4/{ip}/tcp/52415"))))
    return topo


def test_install_patches_exos_placement_and_uninstall_restores():
    mc = card("mlx-community--Llama-3.3-70B-Instruct-4bit")
    ids, mem, ident = cluster()
    topo = ring_topology(ids)
    net = {i: NodeNetworkInfo(interfaces=[NetworkInterfaceInfo(name="en0", ip_address=f"10.9.0.{j + 1}")])
           for j, i in enumerate(ids)}
    backends = {i: [Backend.MlxMetal] for i in ids}
    cmd = PlaceInstance(model_card=mc, sharding=Sharding.Pipeline, instance_meta=InstanceMeta.MlxRing, min_nodes=4)

    def place():
        (inst,) = place_instance(cmd, topo, {}, mem, net, backends).values()
        assert isinstance(inst, MlxRingInstance)
        sa = inst.shard_assignments
        order = sorted(sa.node_to_runner, key=lambda n: sa.runner_to_shard[sa.node_to_runner[n]].device_rank)
        return order, tiles(sa, order)

    order0, exo_segs = place()
    fractions = [mem[n].ram_available.in_bytes / sum(mem[m].ram_available.in_bytes for m in order0) for n in order0]
    assert [e - s for s, e in exo_segs] == allocate_layers_proportionally(mc.n_layers, fractions)
    speeds = {str(i): g for i, g in zip(ids, (100, 120, 273, 800), strict=True)}
    try:
        adapter.install(gbps=speeds)
        order, gay_segs = place()
        assert gay_segs == adapter.plan_segments(mc, order, mem, gbps=speeds)
        assert gay_segs != exo_segs
        # tensor sharding is exo's own, untouched
        tcmd = cmd.model_copy(update={"sharding": Sharding.Tensor})
        (t,) = place_instance(tcmd, topo, {}, mem, net, backends).values()
        shards = t.shard_assignments.runner_to_shard.values()
        assert all(s.start_layer == 0 and s.end_layer == mc.n_layers for s in shards)
    finally:
        adapter.uninstall()
    order2, again = place()
    exo_alloc = allocate_layers_proportionally(mc.n_layers, [mem[n].ram_available.in_bytes / sum(
        mem[m].ram_available.in_bytes for m in order2) for n in order2])
    assert [e - s for s, e in again] == exo_alloc


def test_install_falls_back_to_exo_when_gay_cannot_fit():
    mc = card("mlx-community--Llama-3.3-70B-Instruct-4bit")
    ids, mem, _ = cluster()
    try:
        fn = adapter.install(context=100_000_000)  # no KV cache of 1e8 tokens fits: exo's own split
        sa = fn(mc, Cycle(node_ids=ids), Sharding.Pipeline, mem)
        exo = allocate_layers_proportionally(mc.n_layers, [mem[n].ram_available.in_bytes / sum(
            m.ram_available.in_bytes for m in mem.values()) for n in ids])
        assert [e - s for s, e in tiles(sa, ids)] == exo
    finally:
        adapter.uninstall()
