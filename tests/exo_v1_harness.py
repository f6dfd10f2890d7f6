"""exo v1's real Router, EventRouter, Master and API in one process on 127.0.0.1 (run under exo's venv).

    python exo_v1_harness.py CLUSTER.json

CLUSTER.json: {"port": API port, "nodes": [{"name", "chip", "model", "ram_total", "ram_available",
"ip"}, ...]}. The first node is this process's own node (the master's); every node's facts
reach the master as exo's own events (NodeGatheredInfo: memory, identity, name, interfaces,
backends; TopologyEdgeCreated: a ring of socket connections, both directions), wrapped in
LocalForwarderEvent with the master's session and fed through the stub exo_rs as messages on
local_events, encoded with exo's codec: the way exo's workers publish them. Memory readings
are re-sent every 5 s (the master times out nodes unseen for 30 s). No worker runs, so no
model is loaded and no traffic goes to the ring's addresses (they are only data).
Prints one JSON line {"port", "node_ids", "session"} once the API answers, then runs until killed.
"""

from __future__ import annotations

import json
import socket
import sys
from datetime import datetime, timezone

import anyio
import exo.api.main as api_main
import exo.routing.topics as topics
import exo_rs  # the stub, on PYTHONPATH
from exo.api.main import API
from exo.master.main import Master
from exo.routing.event_router import EventRouter
from exo.routing.router import Router, get_node_zid
from exo.shared.election import ElectionMessage
from exo.shared.types.backends import Backend
from exo.shared.types.common import NodeId, SessionId, SystemId
from exo.shared.types.events import LocalForwarderEvent, NodeGatheredInfo, TopologyEdgeCreated
from exo.shared.types.memory import Memory
from exo.shared.types.multiaddr import Multiaddr
from exo.shared.types.profiling import MemoryUsage, NetworkInterfaceInfo
from exo.shared.types.topology import Connection, SocketConnection
from exo.utils.channels import channel
from exo.utils.info_gatherer.info_gatherer import (
    MiscData,
    NodeBackends,
    NodeNetworkInterfaces,
    StaticNodeInformation,
)


class LoopbackConfig(api_main.Config):
    """hypercorn's Config with exo's 0.0.0.0 bind turned into 127.0.0.1 (exo hard-codes 0.0.0.0)."""

    @property
    def bind(self):  # type: ignore[override]
        return self._bind

    @bind.setter
    def bind(self, value):
        value = [value] if isinstance(value, str) else list(value)
        self._bind = [v.replace("0.0.0.0", "127.0.0.1") for v in value]


api_main.Config = LoopbackConfig


def now() -> str:
    return str(datetime.now(tz=timezone.utc))


class Feeder:
    """Publishes events for one node as that node's worker would: its own origin, increasing indices."""

    def __init__(self, handle, session: SessionId, node_id: NodeId):
        self.handle, self.session, self.node_id = handle, session, node_id
        self.origin, self.idx = SystemId(), 0

    def send(self, event) -> None:
        fwd = LocalForwarderEvent(origin=self.origin, origin_idx=self.idx, session=self.session, event=event)
        self.idx += 1
        data = topics.LOCAL_EVENTS.serialize(fwd)
        self.handle.inject(exo_rs.FromSwarm.Message(topics.LOCAL_EVENTS.topic, data))

    def info(self, info) -> None:
        self.send(NodeGatheredInfo(node_id=self.node_id, when=now(), info=info))


def memory(n: dict) -> MemoryUsage:
    return MemoryUsage(ram_total=Memory.from_bytes(int(n["ram_total"])),
                       ram_available=Memory.from_bytes(int(n["ram_available"])),
                       swap_total=Memory.from_bytes(0), swap_available=Memory.from_bytes(0))


async def main(spec: dict) -> None:
    port = int(spec.get("port") or 0)
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    node_id = get_node_zid()
    session = SessionId(master_node_id=node_id, election_clock=0)
    router = Router.create(node_id, namespace="exo-gay-test", listen_port=0, discovery_service_port=0)
    for t in (topics.GLOBAL_EVENTS, topics.LOCAL_EVENTS, topics.COMMANDS, topics.ELECTION_MESSAGES,
              topics.CONNECTION_MESSAGES, topics.DOWNLOAD_COMMANDS):
        await router.register_topic(t)
    event_router = EventRouter(session, command_sender=router.sender(topics.COMMANDS),
                               external_outbound=router.sender(topics.LOCAL_EVENTS),
                               external_inbound=router.receiver(topics.GLOBAL_EVENTS))
    _election_send, election_recv = channel[ElectionMessage]()
    api = API(node_id, port=port, event_receiver=event_router.receiver(),
              command_sender=router.sender(topics.COMMANDS),
              download_command_sender=router.sender(topics.DOWNLOAD_COMMANDS), election_receiver=election_recv)
    master = Master(node_id, session, event_sender=event_router.sender(),
                    global_event_sender=router.sender(topics.GLOBAL_EVENTS),
                    local_event_receiver=router.receiver(topics.LOCAL_EVENTS),
                    command_receiver=router.receiver(topics.COMMANDS),
                    download_command_sender=router.sender(topics.DOWNLOAD_COMMANDS))
    handle = exo_rs.NetworkingHandle.instances[-1]
    nodes = spec["nodes"]
    ids = [node_id] + [get_node_zid() for _ in nodes[1:]]
    feeders = [Feeder(handle, session, i) for i in ids]

    async with anyio.create_task_group() as tg:
        tg.start_soon(router.run)
        tg.start_soon(event_router.run)
        tg.start_soon(master.run)
        tg.start_soon(api.run)
        await anyio.sleep(0.5)
        for f, n in zip(feeders, nodes, strict=True):
            f.info(memory(n))
            f.info(StaticNodeInformation(model=n.get("model", "Mac"), chip=n["chip"], os_version="15.5",
                                         os_build_version="24F74"))
            f.info(MiscData(friendly_name=n["name"]))
            f.info(NodeNetworkInterfaces(ifaces=[NetworkInterfaceInfo(name="en0", ip_address=n["ip"],
                                                                      interface_type="ethernet")]))
            f.info(NodeBackends(backends=[Backend.MlxMetal, Backend.MlxCpu]))
        k = len(ids)
        for j in range(k):
            for a, b in ((j, (j + 1) % k), ((j + 1) % k, j)):
                if a == b:
                    continue
                addr = Multiaddr(address=f"/ip4/{nodes[b]['ip']}/tcp/52415")
                feeders[a].send(TopologyEdgeCreated(conn=Connection(source=ids[a], sink=ids[b],
                                                                    edge=SocketConnection(sink_multiaddr=addr))))

        async def keepalive() -> None:
            while True:
                await anyio.sleep(5)
                for f, n in zip(feeders, nodes, strict=True):
                    f.info(memory(n))

        tg.start_soon(keepalive)
        # ready once the API serves the state with every node in it
        import httpx

        async with httpx.AsyncClient() as client:
            for _ in range(600):
                try:
                    r = await client.get(f"http://127.0.0.1:{port}/state", timeout=2)
                    st = r.json()
                    if (len(st.get("nodeMemory", {})) == k and len(st.get("nodeIdentities", {})) == k
                            and len(st.get("topology", {}).get("connections", {})) == k):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                await anyio.sleep(0.1)
            else:
                print(json.dumps({"error": "exo's API never showed the ring"}), flush=True)
                sys.exit(3)
        print(json.dumps({"port": port, "node_ids": [str(i) for i in ids], "session": str(node_id)}), flush=True)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        anyio.run(main, json.load(fh))
