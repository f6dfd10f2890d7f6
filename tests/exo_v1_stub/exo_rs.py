"""A stub of exo v1's Rust module exo_rs, written from the interface exo's Python uses.

exo_rs (rust/exo_rs, zenoh gossipsub) cannot be built here. exo imports it in main.py
(Pidfile, PidfileError), routing/router.py (FromSwarm, NetworkingHandle) and
routing/connection_message.py (FromSwarm.Connection). This stub is a swarm of one: what exo
publishes is recorded (no peer receives it), and a test feeds messages in with inject(),
as exo's router would receive them from peers. It is no network and no ring.
"""

from __future__ import annotations

import os

import anyio


class FromSwarm:
    class Connection:
        __match_args__ = ("connected",)

        def __init__(self, connected: bool):
            self.connected = connected

        def __repr__(self) -> str:
            return f"FromSwarm.Connection(connected={self.connected})"

    class Message:
        __match_args__ = ("topic", "data")

        def __init__(self, topic: str, data: bytes):
            self.topic, self.data = topic, bytes(data)

        def __repr__(self) -> str:
            return f"FromSwarm.Message({self.topic!r}, {len(self.data)} bytes)"


class NetworkingHandle:
    instances: list["NetworkingHandle"] = []

    def __init__(self, identity: str, namespace: str, listen_port: int, discovery_service_port: int):
        self.identity, self.namespace = identity, namespace
        self.listen_port, self.discovery_service_port = listen_port, discovery_service_port
        self.subscribed: set[str] = set()
        self.published: list[tuple[str, bytes]] = []
        self._send, self._recv = anyio.create_memory_object_stream(max_buffer_size=10_000)

    @classmethod
    def new(cls, identity: str, namespace: str, listen_port: int, discovery_service_port: int) -> "NetworkingHandle":
        h = cls(identity, namespace, listen_port, discovery_service_port)
        cls.instances.append(h)
        return h

    async def recv(self):
        return await self._recv.receive()

    def inject(self, item) -> None:
        """A message from a peer (FromSwarm.Message / FromSwarm.Connection) for exo's router."""
        self._send.send_nowait(item)

    async def gossipsub_subscribe(self, topic: str) -> bool:
        self.subscribed.add(topic)
        return True

    async def gossipsub_unsubscribe(self, topic: str) -> bool:
        self.subscribed.discard(topic)
        return True

    async def gossipsub_publish(self, topic: str, data: bytes) -> None:
        self.published.append((topic, bytes(data)))


class PidfileError(Exception):
    pass


class Pidfile:
    def __init__(self, path, mode: int = 0o600):
        self.path = str(path)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, mode)
        except OSError as e:
            raise PidfileError(str(e)) from e

    def write(self) -> None:
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())

    def as_raw_fd(self) -> int:
        return self._fd

    def close(self) -> None:
        os.close(self._fd)
