"""Small helpers the process tests share: loopback ports, JSON over HTTP, stopping process groups,
and exo nodes on 127.0.0.1 (the legacy-exo ring tests)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports free now: all bound at once (so none repeats), then closed."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def http_json(url: str, body: dict | None = None, timeout: float = 10.0) -> dict:
    """GET ``url`` (POST ``body`` as JSON when given) and return the JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def stop_groups(procs: Iterable[subprocess.Popen], timeout: float) -> None:
    """SIGTERM every live process's group (started with ``start_new_session``), wait ``timeout``
    seconds for each, SIGKILL the group of any still running."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)


class ExoNodes:
    """Legacy exo nodes ``ids`` on 127.0.0.1 with manual discovery: a gRPC port and an API port each
    (``grpc``, ``api``), one cluster file naming them all (``cluster``), each node's process in its
    own group and its log (``procs``, ``logs``)."""

    stop_wait_s = 10.0  # how long stop() waits for a node after SIGTERM

    def __init__(self, ids: Iterable[str], tmp: Path):
        self.tmp = tmp
        self.ids = list(ids)
        ports = free_ports(2 * len(self.ids))
        self.grpc = dict(zip(self.ids, ports[: len(self.ids)], strict=True))
        self.api = dict(zip(self.ids, ports[len(self.ids):], strict=True))
        self.cluster = tmp / "cluster.json"
        self.cluster.write_text(json.dumps({"peers": {i: {
            "address": "127.0.0.1", "port": self.grpc[i],
            "device_capabilities": {"model": "test", "chip": "test", "memory": 16384,
                                    "flops": {"fp32": 0, "fp16": 0, "int8": 0}}} for i in self.ids}}))
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def exo_args(self, i: str, engine: str) -> list[str]:
        """exo's own arguments for node ``i``: its ports, the cluster file, ``engine``, no TUI."""
        return ["--node-id", i, "--node-host", "127.0.0.1", "--node-port", str(self.grpc[i]),
                "--chatgpt-api-port", str(self.api[i]), "--discovery-module", "manual",
                "--discovery-config-path", str(self.cluster), "--inference-engine", engine, "--disable-tui"]

    def start(self, i: str, cmd: list[str], env: dict[str, str], cwd: Path) -> None:
        """Run node ``i`` as ``cmd`` in a new session, stdout and stderr into ``tmp/<i>.log``."""
        self.logs[i] = self.tmp / f"{i}.log"
        with open(self.logs[i], "w") as log:
            self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                             start_new_session=True)

    def log(self, i: str) -> str:
        return self.logs[i].read_text(errors="replace")

    def topology(self, i: str) -> dict:
        return http_json(f"http://127.0.0.1:{self.api[i]}/v1/topology")

    def wait_for_topologies(self, converged: Callable[[dict], bool], timeout: float) -> dict:
        """Every node's topology, {node: topology}, once ``converged`` holds of them; an
        AssertionError if a node exits or ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            for i, p in self.procs.items():
                assert p.poll() is None, f"exo node {i} exited:\n{self.log(i)[-3000:]}"
            try:
                tops = {i: self.topology(i) for i in self.ids}
                if converged(tops):
                    return tops
                last = tops
            except OSError:
                pass
            time.sleep(1.0)
        raise AssertionError(f"the ring did not converge in {timeout}s: {last}")

    def stop(self) -> None:
        stop_groups(self.procs.values(), timeout=self.stop_wait_s)
