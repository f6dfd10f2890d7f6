"""`exo-gay nashprop --exo-api URL`: the members are the node ids a running exo node's API answers.

The server below stands in for legacy exo's ChatGPT API on 127.0.0.1: its answer is written from
exo's `Topology.to_json()` shape (nodes, peer_graph, active_node_id), not from our code.
Known answers come from `ref_xor` (tests/nashprop_adversary.py).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from nashprop_adversary import ref_xor
from netutil import free_ports

from exo_gay.errors import InputError
from exo_gay.exotopology import fetch_node_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 7202985
IDS = ["9c1f6e52-3b7a-4d0e-8f21-5a6b7c8d9e01", "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a80",
       "e7d6c5b4-a392-4180-b7c6-d5e4f3a2b190"]


def _caps(mem: int) -> dict:
    return {"model": "MacBook Pro", "chip": "Apple M3 Max", "memory": mem,
            "flops": {"fp32": 14.2, "fp16": 28.4, "int8": 56.8}}


TOPOLOGY = {
    "nodes": {i: _caps(65536 + 1024 * n) for n, i in enumerate(IDS)},
    "peer_graph": {a: [{"from_id": a, "to_id": b, "description": "MANUAL"} for b in IDS if b != a] for a in IDS},
    "active_node_id": None,
}


class _Exo:
    """A tiny HTTP server on 127.0.0.1 answering GET /v1/topology with (status, body)."""

    def __init__(self, status: int, body: bytes):
        answer = (status, body)
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                paths.append(self.path)
                code, data = answer if self.path == "/v1/topology" else (404, b"not found")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
def test_three_members_from_exo_topology_agree_exactly():
    total = 600_000
    ports = free_ports(3)
    session = secrets.token_hex(6)
    with _Exo(200, json.dumps(TOPOLOGY).encode()) as exo:
        procs = []
        for n, me in enumerate(IDS):
            cmd = [sys.executable, "-m", "exo_gay", "nashprop", "--exo-api", exo.url + "/", "--me", me,
                   "--total", str(total), "--session", session, "--no-scout", "--sync", "0.3", "--threads", "1",
                   "--listen", f"tcp/127.0.0.1:{ports[n]}", "--json"]
            cmd += [x for j in range(n) for x in ("--connect", f"tcp/127.0.0.1:{ports[j]}")]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
        results = []
        try:
            for p in procs:
                out, err = p.communicate(timeout=120)
                results.append((p.returncode, out, err))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        assert exo.paths == ["/v1/topology"] * 3  # the trailing '/' of the base address is not doubled
    want = f"0x{ref_xor(SEED, 0, total):016x}"
    for rc, out, err in results:
        assert rc == 0, err
        doc = json.loads(out)
        assert doc["verified"] is True and sorted(doc["members"]) == sorted(IDS)
        assert doc["xor"] == want


def _one_error_line(cli, url: str, me: str = IDS[0]) -> str:
    r = cli("nashprop", "--exo-api", url, "--me", me, "--total", "1000", "--no-scout", timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("status,body,words", [
    (500, b'{"detail": "Internal Server Error"}', "HTTP 500"),
    (200, b'{"nodes": {"a": {}', "malformed JSON"),
    (200, b"{}", "no nodes"),
    (200, b'{"nodes": {}, "peer_graph": {}}', "no nodes"),
    (200, b"[" * 200_000 + b"]" * 200_000, "nested deeper"),
])
def test_bad_topology_answers_are_one_line_exit_2(cli, status, body, words):
    with _Exo(status, body) as exo:
        line = _one_error_line(cli, exo.url)
    assert words in line and "is exo running with its API on that address?" in line


def test_unreachable_exo_api_is_one_line_exit_2(cli):
    (port,) = free_ports(1)  # nothing listens there now
    line = _one_error_line(cli, f"http://127.0.0.1:{port}")
    assert f"127.0.0.1:{port}/v1/topology" in line and "is exo running" in line


def test_me_must_be_a_node_of_the_topology_and_the_url_http(cli):
    with _Exo(200, json.dumps(TOPOLOGY).encode()) as exo:
        line = _one_error_line(cli, exo.url, me="not-a-node")
    assert "--me 'not-a-node' is not one of the members" in line and IDS[1] in line
    assert "expected an http address" in _one_error_line(cli, "127.0.0.1:52415")


def test_an_exo_api_that_never_answers_times_out_with_one_input_error():
    with socket.socket() as s:  # listens, never answers: the request waits for the bounded timeout
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        with pytest.raises(InputError) as e:
            fetch_node_ids(f"http://127.0.0.1:{s.getsockname()[1]}", timeout=0.5)
    assert "is exo running" in str(e.value) and "\n" not in str(e.value)
