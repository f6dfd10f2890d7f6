"""`exo-gay place` against exo v1's real Router, Master and API (one process on 127.0.0.1, stub exo_rs).

tests/exo_v1_harness.py runs exo's own code in exo's venv and injects a 4-node ring as exo's
own events; the CLI runs here as a user runs it. What exo's state holds after `exo-gay place`
is checked against `exo-gay place --dry-run`, and exo's default split against an independent
computation of its rule (largest remainder over available memory).
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import run_cli
from exo_v1_env import REPO, exo_v1  # noqa: F401  (the session fixture)

GB = 10**9
RING = [  # name, chip, GB total, bytes available, a made-up address (only data: nothing is sent there)
    ("studio", "Apple M2 Ultra", 64, 60_000_000_000, "10.99.0.1"),
    ("mbp", "Apple M4 Pro", 48, 45_000_000_000, "10.99.0.2"),
    ("mini", "Apple M4", 32, 30_000_000_000, "10.99.0.3"),
    ("air", "Apple M2", 24, 22_000_000_000, "10.99.0.4"),
]
LLAMA = "mlx-community/Llama-3.3-70B-Instruct-4bit"
QWEN_MOE = "mlx-community/Qwen3-30B-A3B-4bit"


def get(base: str, path: str):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def exo_api(exo_v1, tmp_path_factory):  # noqa: F811
    home = tmp_path_factory.mktemp("exo-home")
    spec = {"port": 0, "nodes": [{"name": n, "chip": c, "ram_total": t * 2**30, "ram_available": a, "ip": ip}
                                 for n, c, t, a, ip in RING]}
    (home / "cluster.json").write_text(json.dumps(spec))
    log = open(home / "exo.log", "w")
    proc = subprocess.Popen([str(exo_v1.python), str(REPO / "tests/exo_v1_harness.py"), str(home / "cluster.json")],
                            env=exo_v1.env(home), stdout=subprocess.PIPE, stderr=log, text=True, cwd=home)
    line: list[str] = []
    t = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(180)
    try:
        assert line and line[0].strip(), f"exo's harness never came up: {(home / 'exo.log').read_text()[-3000:]}"
        ready = json.loads(line[0])
        assert "port" in ready, ready
        yield {"base": f"http://127.0.0.1:{ready['port']}", "node_ids": ready["node_ids"], "log": home / "exo.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def exo_rule(total_layers: int, available: list[int]) -> list[int]:
    """exo v1's documented rule, computed here independently: largest remainder over memory fractions,
    then at least one layer each."""
    raw = [a / sum(available) * total_layers for a in available]
    out = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)[: total_layers - sum(out)]:
        out[i] += 1
    return out


def shards(instance: dict) -> dict[str, dict]:
    body = instance["MlxRingInstance"]
    sa = body["shardAssignments"]
    return {n: sa["runnerToShard"][r]["PipelineShardMetadata"] for n, r in sa["nodeToRunner"].items()}


def place(base: str, model: str, *extra: str):
    return run_cli("place", "--api", base, "--model", model, *extra, "--json")


@pytest.mark.parametrize("model", [LLAMA, QWEN_MOE])
def test_place_posts_what_the_dry_run_planned(exo_api, model):
    base = exo_api["base"]
    before = get(base, "/state")
    dry = place(base, model, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    d = json.loads(dry.stdout)
    assert d["posted"] is False and get(base, "/state")["instances"] == before["instances"]

    # exo's default, as its dry run returned it, is exo's rule over available memory in its ring order
    avail = {n: before["nodeMemory"][n]["ramAvailable"]["inBytes"] for n in exo_api["node_ids"]}
    order = [row["node_id"] for row in d["nodes"]]
    assert sorted(order) == sorted(exo_api["node_ids"])
    exo_counts = [e - s for s, e in d["exo"]["segments"]]
    assert exo_counts == exo_rule(d["n_layers"], [avail[n] for n in order])
    assert d["gay"]["segments"] != d["exo"]["segments"]  # speeds differ 8x: the split moves

    run = place(base, model)
    assert run.returncode == 0, run.stderr
    r = json.loads(run.stdout)
    assert r["posted"] is True
    state = get(base, "/state")
    held = state["instances"][r["instance_id"]]
    assert len(state["instances"]) == len(before["instances"]) + 1
    got, planned = shards(held), {row["node_id"]: row for row in d["nodes"]}
    assert set(got) == set(planned)
    card = next(iter(got.values()))["modelCard"]
    at = 0
    for rank, node in enumerate(order):
        meta = got[node]
        assert meta["deviceRank"] == planned[node]["rank"] == rank  # exo's ranks kept
        assert [meta["startLayer"], meta["endLayer"]] == planned[node]["gay_layers"]  # = the dry run's plan
        assert meta["startLayer"] == at and meta["endLayer"] > at
        at = meta["endLayer"]
        share = card["storageSize"]["inBytes"] * (meta["endLayer"] - meta["startLayer"]) // card["nLayers"]
        assert share <= avail[node]  # exo's own measure of a node's share
    assert at == card["nLayers"] == d["n_layers"]
    # exo's hosts (neighbours' addresses, placeholders) and port, as exo's placement made them
    body = held["MlxRingInstance"]
    assert body["ephemeralPort"] == r["instance"]["MlxRingInstance"]["ephemeralPort"]
    dry_hosts = d["instance"]["MlxRingInstance"]["hostsByNode"]
    for node, hosts in body["hostsByNode"].items():
        assert [h["ip"] for h in hosts] == [h["ip"] for h in dry_hosts[node]]
        assert {h["port"] for h in hosts} <= {0, body["ephemeralPort"]}


def test_text_output_shows_both_splits(exo_api):
    r = run_cli("place", "--api", exo_api["base"], "--model", LLAMA, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "exo v1 default:" in r.stdout and "gay           :" in r.stdout and "dry run: nothing posted" in r.stdout
    for name, *_ in RING:
        assert name in r.stdout


def test_gbps_by_friendly_name_moves_layers(exo_api):
    """--gbps names a node by exo's friendly name; the slowest chip made the fastest fills its memory."""
    plain = json.loads(place(exo_api["base"], LLAMA, "--dry-run").stdout)
    fast_air = place(exo_api["base"], LLAMA, "--dry-run", "--gbps", "air=5000")
    assert fast_air.returncode == 0, fast_air.stderr
    d = json.loads(fast_air.stdout)
    count = {row["name"]: row["gay_layers"][1] - row["gay_layers"][0] for row in d["nodes"]}
    before = {row["name"]: row["gay_layers"][1] - row["gay_layers"][0] for row in plain["nodes"]}
    assert before["air"] == 1 and count["air"] > 20  # from one layer to as many as its 22 GB hold
    air = next(row for row in d["nodes"] if row["name"] == "air")
    assert d["gay"]["held_bytes"][air["rank"]] <= air["budget_bytes"]
    assert {row["name"]: row["speed_source"] for row in d["nodes"]}["air"] == "cluster file"  # given, not the chip


def one_line_error(r, code: int, *words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exo-gay place: error: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_errors_post_nothing(exo_api):
    base = exo_api["base"]
    before = get(base, "/state")["instances"]
    one_line_error(place(base, LLAMA[:-1]), 2, "has no model", f"did you mean {LLAMA}?")
    one_line_error(place(base, "mlx-community/DeepSeek-V3.1-4bit"), 2, "exo cannot place",
                   "No cycles found with sufficient memory")
    one_line_error(place(base, LLAMA, "--context", "100000000"), 2, "no feasible plan")
    one_line_error(place(base, LLAMA, "--min-nodes", "9"), 2, "exo knows 4 nodes")
    one_line_error(place(base, LLAMA, "--gbps", "nosuch=100"), 2, "not a node of exo's ring")
    one_line_error(place("http://127.0.0.1:9", LLAMA), 1, "unreachable")
    one_line_error(place("ftp://x", LLAMA), 2, "expected exo's API base URL")
    assert get(base, "/state")["instances"] == before


def test_exo_refusing_the_post(exo_api):
    """A server written from exo's wire format: exo's real answers replayed, POST /instance refused as exo does."""
    base = exo_api["base"]
    recorded = {"/state": get(base, "/state"), "/models": get(base, "/models")}
    placement = get(base, f"/instance/placement?model_id={LLAMA}&sharding=Pipeline&instance_meta=MlxRing&min_nodes=4")
    posts: list[bytes] = []

    class Exo(BaseHTTPRequestHandler):
        def _send(self, code: int, obj) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            path = self.path.split("?", 1)[0]
            self._send(200, placement if path == "/instance/placement" else recorded[path])

        def do_POST(self):  # noqa: N802
            posts.append(self.rfile.read(int(self.headers["Content-Length"])))
            self._send(400, {"error": {"message": "Insufficient memory to create instance. Required: 40.7GB, "
                                                  "Available: 12.0GB", "type": "Bad Request", "code": 400}})

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Exo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = place(f"http://127.0.0.1:{srv.server_address[1]}", LLAMA)
    finally:
        srv.shutdown()
        srv.server_close()
    one_line_error(r, 1, "exo refused POST /instance: 400 Insufficient memory")
    assert len(posts) == 1
    sent = json.loads(posts[0])["instance"]
    assert set(sent) == {"MlxRingInstance"}  # the tagged union exo's API model expects
    assert shards(sent).keys() == shards(placement).keys()
