"""exo_rs over eclipse-zenoh: a Python shim of exo v1's Rust networking module, for a live ring on Linux.

Used only by benchmarks/exov1_live/run.sh (never by the package or CI). Each node opens a
zenoh peer session listening on exo's --zenoh-port and connecting to $EXO_SHIM_PEERS; exo's
gossipsub topics become zenoh keys exo/<namespace>/t/<topic> (remote delivery only, as
gossipsub does not echo), and zenoh liveliness tokens give exo's election its
FromSwarm.Connection updates.
"""
import json
import os
import queue

import anyio
import zenoh


class FromSwarm:
    class Connection:
        __match_args__ = ("connected",)

        def __init__(self, connected):
            self.connected = connected

        def __repr__(self):
            return f"FromSwarm.Connection({self.connected})"

    class Message:
        __match_args__ = ("topic", "data")

        def __init__(self, topic, data):
            self.topic, self.data = topic, bytes(data)

        def __repr__(self):
            return f"FromSwarm.Message({self.topic!r}, {len(self.data)} B)"


class NetworkingHandle:
    def __init__(self, identity, namespace, listen_port, discovery_service_port):
        self.ns, self.identity = namespace, identity
        self.q = queue.Queue()
        conf = zenoh.Config()
        conf.insert_json5("mode", '"peer"')
        conf.insert_json5("listen/endpoints", json.dumps([f"tcp/0.0.0.0:{listen_port}"]))
        peers = [p for p in os.environ.get("EXO_SHIM_PEERS", "").split(",") if p]
        conf.insert_json5("connect/endpoints", json.dumps(peers))
        conf.insert_json5("scouting/multicast/enabled", "false")
        self.s = zenoh.open(conf)
        self.subs = {}
        self.token = self.s.liveliness().declare_token(f"exo/{namespace}/alive/{identity}")
        def alive(sample):
            who = str(sample.key_expr).rsplit("/", 1)[-1]
            if who != identity:
                self.q.put(FromSwarm.Connection(sample.kind == zenoh.SampleKind.PUT))
        self.lsub = self.s.liveliness().declare_subscriber(f"exo/{namespace}/alive/*", alive, history=True)

    @classmethod
    def new(cls, identity, namespace, listen_port, discovery_service_port):
        return cls(identity, namespace, listen_port, discovery_service_port)

    async def recv(self):
        while True:
            try:
                return self.q.get_nowait()
            except queue.Empty:
                await anyio.sleep(0.005)

    async def gossipsub_subscribe(self, topic):
        if topic not in self.subs:
            q = self.q
            def h(sample, topic=topic):
                q.put(FromSwarm.Message(topic, sample.payload.to_bytes()))
            self.subs[topic] = self.s.declare_subscriber(f"exo/{self.ns}/t/{topic}", h,
                                                         allowed_origin=zenoh.Locality.REMOTE)
        return True

    async def gossipsub_unsubscribe(self, topic):
        sub = self.subs.pop(topic, None)
        if sub is not None:
            sub.undeclare()
        return True

    async def gossipsub_publish(self, topic, data):
        # BLOCK, not zenoh's default DROP: gossipsub delivers every message, exo's event indices expect it
        self.s.put(f"exo/{self.ns}/t/{topic}", bytes(data), allowed_destination=zenoh.Locality.REMOTE,
                   congestion_control=zenoh.CongestionControl.BLOCK)


class PidfileError(Exception):
    pass


class Pidfile:
    def __init__(self, path, mode=0o600):
        os.makedirs(os.path.dirname(str(path)), exist_ok=True)
        self._fd = os.open(str(path), os.O_RDWR | os.O_CREAT, mode)
    def write(self):
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())

    def as_raw_fd(self):
        return self._fd

    def close(self):
        os.close(self._fd)
