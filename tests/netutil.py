"""Small helpers the process tests share: loopback ports, JSON over HTTP, stopping process groups."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterable


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
