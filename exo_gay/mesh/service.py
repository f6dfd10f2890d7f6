"""The miner: a grpc.aio servicer that mines chunks, commits to them, and answers audits.

A chunk is mined as audit.LEAVES leaves.  For the fingerprint (xor) the answer carries the
chunk's value and the Merkle XOR root over its leaves (audit.build), and the tree is kept so a
later Audit call can hand out any leaf's value and path; for a game the answer carries every
leaf's value, which the coordinator combines and samples itself.  Mining
runs in worker threads (the kernels release the GIL), so the event loop, and exo's own gRPC
service when we share its server, stays responsive; a cancelled call stops its threads.

Limits (defaults of ``MinerServicer``, so the exo plugin's miner has them too): at most
``max_running`` chunks mined at once, at most ``max_per_client`` Mine calls in flight per
client, and without authentication at most ``max_open_work`` colors per call.
Capabilities and Health never wait for mining.

``add_miner_to_server`` puts the servicer (and standard gRPC health) on an existing
grpc.aio server, e.g. exo's, before it starts; ``start_miner`` runs a standalone one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import grpc

from .. import __version__, audit
from ..errors import InputError
from ..gayhy import INDEX_SPACES
from . import health_pb2
from . import mesh_pb2 as pb
from .auth import AuthError, HmacAuth, RequestGuard, sign
from .wire import MAX_CHUNKS_PER_CALL, METHODS, SERVER_OPTIONS, SERVICE, audit_context, value_to_text

log = logging.getLogger(__name__)

MAX_RUNNING = 2
MAX_PER_CLIENT = 2
MAX_OPEN_WORK = 1 << 36  # colors per call accepted without authentication
MAX_TREES = 1024  # commitments kept for audits (about 20 KiB each)
MAX_WATCHES = 64  # open Health.Watch streams per server (each holds a task until its caller leaves)


class MinerServicer:
    """The Miner service's methods; one per node."""

    def __init__(self, node_id: str, key: Any = None, threads: int | None = None, backend: str = "auto",
                 max_running: int = MAX_RUNNING, max_per_client: int = MAX_PER_CLIENT,
                 max_open_work: int = MAX_OPEN_WORK, max_trees: int = MAX_TREES):
        from ..kernels import get_backend
        from ..runner import default_threads

        self.node_id = node_id
        self.auth = HmacAuth(key, node_id) if isinstance(key, (bytes, bytearray)) else (
            key.named(node_id) if key is not None else None)
        self.boot_id = os.urandom(16)
        self.guard = RequestGuard(self.auth, node_id, self.boot_id) if self.auth else None
        self.threads = threads or default_threads()
        self.backend = get_backend(backend)  # self-checked now, not in the first request
        self.max_per_client, self.max_open_work, self.max_trees = max_per_client, max_open_work, max_trees
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=f"miner-{node_id}")
        self._running: asyncio.Semaphore | None = None  # made on the serving loop
        self._max_running = max_running
        self._clients: dict[str, int] = {}
        self._trees: OrderedDict[tuple, audit.Tree] = OrderedDict()
        self.rate = 0.0
        self.chunks_mined = 0
        self.refused = 0
        self.active = 0  # chunks being mined right now
        threading.Thread(target=self._measure_rate, daemon=True, name=f"rate-{node_id}").start()

    def _measure_rate(self) -> None:
        """Colors/s on the canonical fingerprint, for the report only (never for a deadline)."""
        from ..runner import reduce_range

        try:
            n = (1 << 22) * self.threads
            reduce_range(0, 0, 1 << 16, threads=1, backend=self.backend)  # warm up
            t0 = time.perf_counter()
            reduce_range(0, 0, n, threads=self.threads, backend=self.backend)
            self.rate = n / max(time.perf_counter() - t0, 1e-9)
        except Exception:  # noqa: BLE001 - information only
            log.exception("rate measurement failed")

    # -- helpers
    async def _authenticate(self, method: str, request: Any, context: Any, any_boot: bool = False) -> str:
        """The client's identity: the signer when authenticated, else the caller's connection
        (address and port: without a key, one local client must not use up the limit of every
        other client on the same host)."""
        if self.guard is None:
            return context.peer() or ""
        try:
            return self.guard.verify(method, request, any_boot)
        except AuthError as e:
            self.refused += 1
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(e))
            raise  # not reached: abort raises

    def _sign(self, method: str, reply: Any, request: Any) -> Any:
        return sign(self.auth, method, reply, request_nonce=request.auth.nonce)

    async def _leaves(self, seed: int, start: int, count: int, algorithm: str, reduction: Any,
                      cancel: threading.Event) -> list[Any]:
        """The values of the chunk's audit.leaf_ranges, on ``threads`` workers, each a contiguous
        run of leaves in one job (one kernel call per leaf piece, few thread hand-offs)."""
        from ..kernels import resolve
        from ..runner import MAX_CHUNK

        ranges = audit.leaf_ranges(start, count)
        backend = resolve(self.backend, reduction.family)  # the games' pieces are self-checked apart

        def run(part: list[tuple[int, int]]) -> list[Any]:
            out = []
            for a, n in part:
                acc = reduction.identity
                while n > 0:
                    if cancel.is_set():
                        raise InterruptedError("cancelled")
                    k = min(n, MAX_CHUNK)
                    acc = reduction.combine(acc, reduction.piece(backend, seed, a, k, algorithm))
                    a, n = a + k, n - k
                out.append(acc)
            return out

        per = -(-len(ranges) // self.threads)
        loop = asyncio.get_running_loop()
        futs = [loop.run_in_executor(self._pool, run, ranges[i:i + per]) for i in range(0, len(ranges), per)]
        try:
            return [v for part in await asyncio.gather(*futs) for v in part]
        except BaseException:
            cancel.set()
            for f in futs:
                f.cancel()
            raise

    def _keep(self, key: tuple, tree: audit.Tree) -> None:
        self._trees[key] = tree
        self._trees.move_to_end(key)
        while len(self._trees) > self.max_trees:
            self._trees.popitem(last=False)

    async def _check_mine(self, request: pb.MineRequest, context: Any) -> Any:
        from ..registry import get_reduction

        if request.algorithm not in INDEX_SPACES:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown algorithm {request.algorithm[:40]!r}")
        try:
            reduction = get_reduction(request.game or "xor")
        except (KeyError, ValueError) as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"game: {str(e)[:200]}")
        if not 0 < len(request.chunks) <= MAX_CHUNKS_PER_CALL:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"a call mines 1..{MAX_CHUNKS_PER_CALL} chunks, got {len(request.chunks)}")
        limit = INDEX_SPACES[request.algorithm]
        for ch in request.chunks:
            if ch.count < 1 or ch.start + ch.count > limit:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad chunk [{ch.start}, +{ch.count})")
        work = sum(ch.count for ch in request.chunks)
        if self.guard is None and work > self.max_open_work:
            self.refused += 1
            log.warning("refused Mine: %d colors without authentication (at most %d)", work, self.max_open_work)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"{work} colors in one call without a key (at most {self.max_open_work})")
        return reduction

    # -- RPCs
    async def Mine(self, request: pb.MineRequest, context: Any):
        client = await self._authenticate("Mine", request, context)
        reduction = await self._check_mine(request, context)
        if self._clients.get(client, 0) >= self.max_per_client:
            self.refused += 1
            log.warning("refused Mine from %s: %d calls already in flight", client, self.max_per_client)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"{self.max_per_client} calls of this client already in flight")
        if self._running is None:
            self._running = asyncio.Semaphore(self._max_running)
        self._clients[client] = self._clients.get(client, 0) + 1
        ctx = audit_context(request.bundle_hash, request.seed, request.algorithm, request.game or "xor")
        try:
            for ch in request.chunks:
                cancel = threading.Event()
                async with self._running:
                    t0 = time.perf_counter()
                    self.active += 1
                    try:
                        leaves = await self._leaves(request.seed, ch.start, ch.count, request.algorithm,
                                                    reduction, cancel)
                        if reduction.name == "xor":
                            tree = audit.build(ctx, ch.start, ch.count, leaves)
                            self._keep((ctx, ch.start, ch.count), tree)
                            value, root, n_leaves, texts = tree.value, tree.root, tree.n_leaves, []
                        else:
                            value = functools.reduce(reduction.combine, leaves, reduction.identity)
                            root, n_leaves = b"", len(leaves)
                            texts = [value_to_text(reduction, v) for v in leaves]
                    except asyncio.CancelledError:
                        cancel.set()  # the caller is gone: stop the worker threads too
                        raise
                    finally:
                        self.active -= 1
                self.chunks_mined += 1
                result = pb.ChunkResult(bundle_hash=request.bundle_hash, start=ch.start, count=ch.count,
                                        value=value_to_text(reduction, value), node_id=self.node_id,
                                        seconds=time.perf_counter() - t0, root=root, n_leaves=n_leaves,
                                        leaf_values=texts)
                yield self._sign("Mine.result", result, request)
        finally:
            self._clients[client] -= 1
            if not self._clients[client]:
                del self._clients[client]

    async def Audit(self, request: pb.AuditRequest, context: Any) -> pb.AuditReply:
        await self._authenticate("Audit", request, context)
        ctx = audit_context(request.bundle_hash, request.seed, request.algorithm, request.game or "xor")
        tree = self._trees.get((ctx, request.chunk.start, request.chunk.count))
        if tree is None or tree.root != request.root:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such commitment here (mined by another, or forgotten)")
        if len(request.leaves) > tree.n_leaves or len(set(request.leaves)) != len(request.leaves) \
                or any(k >= tree.n_leaves for k in request.leaves):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "leaves: distinct indices below n_leaves")
        reply = pb.AuditReply(bundle_hash=request.bundle_hash, start=tree.start, count=tree.count,
                              node_id=self.node_id, leaves=[
                                  pb.LeafProof(index=k, value=tree.leaf_value(k),
                                               path=[pb.Sibling(digest=d, xor=x) for d, x in tree.path(k)])
                                  for k in request.leaves])
        return self._sign("Audit.reply", reply, request)

    async def ColorAt(self, request: pb.ColorAtRequest, context: Any) -> pb.ColorAtReply:
        from ..spi import color_at

        await self._authenticate("ColorAt", request, context)
        if request.algorithm not in ("", "canonical"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "color_at is defined for the canonical algorithm")
        reply = pb.ColorAtReply(color=color_at(request.seed, request.index), node_id=self.node_id)
        return self._sign("ColorAt.reply", reply, request)

    async def Capabilities(self, request: pb.CapabilitiesRequest, context: Any) -> pb.CapabilitiesReply:
        from ..registry import reduction_names
        from ..runner import default_threads

        await self._authenticate("Capabilities", request, context, any_boot=True)
        reply = pb.CapabilitiesReply(node_id=self.node_id, cores=default_threads(), threads=self.threads,
                                     backend=self.backend.name, colors_per_second=self.rate,
                                     games=reduction_names(), version=__version__,
                                     authenticated=self.auth is not None, boot_id=self.boot_id,
                                     auth_mode=self.auth.mode if self.auth else "none")
        return self._sign("Capabilities.reply", reply, request)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _handlers(servicer: MinerServicer) -> Any:
    table = {}
    for name, (req, resp) in METHODS.items():
        make = grpc.unary_stream_rpc_method_handler if name == "Mine" else grpc.unary_unary_rpc_method_handler
        table[name] = make(getattr(servicer, name), req.FromString, resp.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE, table)


HEALTH_SERVICE = "grpc.health.v1.Health"


def add_health(server: Any, services: tuple[str, ...] = ("", SERVICE), max_watches: int = MAX_WATCHES) -> None:
    """Standard gRPC health (grpc.health.v1): SERVING for "" and the Miner service.

    Served from our own copy of the health messages (health.proto, in a private descriptor
    pool), so it works under exo's pinned protobuf and beside any grpcio-health-checking.
    """
    Req, Resp = health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse

    async def check(request: Any, context: Any) -> Any:
        if request.service not in services:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return Resp(status=Resp.SERVING)

    watching = [0]

    async def watch(request: Any, context: Any):
        if watching[0] >= max_watches:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{max_watches} health watches already open")
        watching[0] += 1
        try:
            yield Resp(status=Resp.SERVING if request.service in services else Resp.SERVICE_UNKNOWN)
            await asyncio.Event().wait()  # until the caller goes away
        finally:
            watching[0] -= 1

    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(HEALTH_SERVICE, {
        "Check": grpc.unary_unary_rpc_method_handler(check, Req.FromString, Resp.SerializeToString),
        "Watch": grpc.unary_stream_rpc_method_handler(watch, Req.FromString, Resp.SerializeToString)}),))


def add_miner_to_server(server: Any, node_id: str, key: Any = None, threads: int | None = None,
                        backend: str = "auto", health: bool = True, **limits: Any) -> MinerServicer:
    """Add the Miner service (and standard health, SERVING) to a grpc.aio server not yet started.

    ``health=False`` when the server already has a health service (one per server).
    """
    servicer = MinerServicer(node_id, key=key, threads=threads, backend=backend, **limits)
    server.add_generic_rpc_handlers((_handlers(servicer),))
    if health:
        add_health(server)
    return servicer


class CannotListen(InputError, OSError):
    """The address is taken by another process, or is not one of this machine's."""


def _check_free(host: str, port: int) -> None:
    """CannotListen if another process listens on host:port (checked before gRPC logs its own error)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CannotListen(f"cannot listen on {host}:{port}: {e.strerror}") from None
    for family, kind, proto, _, addr in infos[:1]:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC; a listener still conflicts
            try:
                s.bind(addr)
            except OSError as e:
                raise CannotListen(f"cannot listen on {host}:{port}: {e.strerror}") from None


async def start_miner(node_id: str, host: str = "127.0.0.1", port: int = 0, key: Any = None,
                      threads: int | None = None, backend: str = "auto",
                      **limits: Any) -> tuple[Any, int, MinerServicer]:
    """A started standalone miner: (server, bound port, servicer); CannotListen if the port is taken."""
    if port:
        _check_free(host, port)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    servicer = add_miner_to_server(server, node_id, key=key, threads=threads, backend=backend, **limits)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        servicer.close()
        raise CannotListen(f"cannot listen on {host}:{port} (in use, or not an address of this machine)")
    await server.start()
    return server, bound, servicer


async def serve(node_id: str, host: str = "127.0.0.1", port: int = 0, key: Any = None,
                threads: int | None = None, backend: str = "auto",
                on_listening: Callable[[int, MinerServicer], None] | None = None, **limits: Any) -> None:
    """Run a miner until cancelled; ``on_listening(port, servicer)`` once it listens."""
    server, bound, servicer = await start_miner(node_id, host, port, key, threads, backend, **limits)
    if on_listening:
        on_listening(bound, servicer)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(grace=1.0)
        servicer.close()
