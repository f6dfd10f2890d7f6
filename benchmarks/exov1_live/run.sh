#!/usr/bin/env bash
# A live exo v1 ring on Linux CPU: two real exo v1 nodes (master, worker, API, election, runners)
# in two network namespaces joined by a veth pair, networking through exo_rs.py (eclipse-zenoh),
# a tiny random llama staged under exo's card mlx-community/Llama-3.2-1B-Instruct-4bit,
# `exo-gay place` posting an uneven split, then: tokens from exo's /v1/chat/completions equal
# mlx-lm's on the whole model, and each node's runner loaded exactly its planned layers.
#
#   sudo bash benchmarks/exov1_live/run.sh        (root: it creates network namespaces)
#
# Needs pyenv's Python 3.13 and the exo v1 snapshot (as the tests), and PyPI. Not run by CI.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="$REPO/.venv/bin/python"
WORK="$(mktemp -d /tmp/exov1-live-XXXX)"
MODEL=mlx-community/Llama-3.2-1B-Instruct-4bit
LIVE_PINS="mlx-cpu==0.31.2 mlx==0.31.2 mlx-lm==0.32.2 mlx-vlm==0.6.4 eclipse-zenoh==1.10.2"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do
    for k in $(ps -o pid= --ppid "$p" 2>/dev/null); do
      for g in $(ps -o pid= --ppid "$k" 2>/dev/null); do kill -9 "$g" 2>/dev/null || true; done
      kill -9 "$k" 2>/dev/null || true
    done
    kill -9 "$p" 2>/dev/null || true
  done
  ip netns del exogay-a 2>/dev/null || true
  ip netns del exogay-b 2>/dev/null || true
}
trap cleanup EXIT

# 1. exo v1's venv (the tests' one) for the snapshot, and a sibling venv with MLX on CPU and zenoh
EXO_DIR=$("$PY" -c "import sys; sys.path.insert(0, '$REPO/tests'); import exo_v1_env as e; print(e.build(e.python313(), e.snapshot()).exo_dir)")
PINS=$("$PY" -c "import sys; sys.path.insert(0, '$REPO/tests'); import exo_v1_env as e; print(' '.join(e.PINS))")
KEY=$(echo "$EXO_DIR $PINS $LIVE_PINS" | sha256sum | cut -c1-16)
LV="${EXO_GAY_CACHE:-$HOME/.cache/exo-gay}/exo-v1-live-$KEY"
if [ ! -f "$LV/.complete" ]; then
  rm -rf "$LV"
  /root/.pyenv/versions/3.13.0/bin/python -m venv "$LV"
  "$LV/bin/pip" install -q $PINS
  "$LV/bin/pip" install -q $LIVE_PINS  # mlx-lm moves transformers past exo's pin (exo runs with it)
  "$LV/bin/pip" install -q --no-deps -e "$EXO_DIR"
  touch "$LV/.complete"
fi
echo "live venv: $LV"

# 2. two namespaces, a veth pair between them, nothing in the root namespace
cleanup
ip netns add exogay-a && ip netns add exogay-b
ip link add exogay-va type veth peer name exogay-vb
ip link set exogay-va netns exogay-a && ip link set exogay-vb netns exogay-b
ip -n exogay-a addr add 10.77.0.1/24 dev exogay-va && ip -n exogay-b addr add 10.77.0.2/24 dev exogay-vb
for n in a b; do ip -n exogay-$n link set lo up; ip -n exogay-$n link set exogay-v$n up; done

# 3. the tiny model, staged on both nodes under exo's card id
"$LV/bin/python" "$HERE/make_model.py" "$WORK/model" >/dev/null
for n in a b; do
  mkdir -p "$WORK/home-$n/dashboard" "$WORK/home-$n/.local/share/exo/models"
  cp -r "$WORK/model" "$WORK/home-$n/.local/share/exo/models/mlx-community--Llama-3.2-1B-Instruct-4bit"
done

# 4. two exo v1 nodes
start() {
  ip netns exec "exogay-$1" env -i PATH=/usr/bin:/bin HOME="$WORK/home-$1" EXO_DASHBOARD_DIR="$WORK/home-$1/dashboard" \
    EXO_OFFLINE=true HF_HUB_OFFLINE=1 PYTHONPATH="$HERE" EXO_SHIM_PEERS="tcp/$2:52414" \
    "$LV/bin/python" -m exo -v --api-port 52415 --zenoh-port 52414 >"$WORK/exo-$1.log" 2>&1 &
  PIDS+=($!)
}
start a 10.77.0.2
start b 10.77.0.1
API=http://127.0.0.1:52415
in_a() { ip netns exec exogay-a "$@"; }
in_a "$LV/bin/python" - "$WORK" <<'EOF'
import json, sys, time, urllib.request
for _ in range(120):
    try:
        s = json.load(urllib.request.urlopen("http://127.0.0.1:52415/state", timeout=2))
        if len(s["topology"]["nodes"]) == 2 and len(s["nodeNetwork"]) == 2 and len(s["topology"]["connections"]) == 2:
            break
    except OSError:
        pass
    time.sleep(1)
else:
    sys.exit("exo's two nodes never saw each other")
ips = {n: [i["ipAddress"] for i in v.get("interfaces", [])] for n, v in s["nodeNetwork"].items()}
json.dump(ips, open(sys.argv[1] + "/ips.json", "w"))
EOF
FAST=$("$PY" -c "import json; d=json.load(open('$WORK/ips.json')); print([k for k,v in d.items() if '10.77.0.1' in v][0])")
SLOW=$("$PY" -c "import json; d=json.load(open('$WORK/ips.json')); print([k for k,v in d.items() if '10.77.0.2' in v][0])")

# 5. exo-gay place: an uneven split (node a declared 4x faster)
in_a "$PY" -m exo_gay place --api "$API" --model "$MODEL" --objective throughput --gbps "$FAST=400,$SLOW=100"
in_a "$PY" -m exo_gay place --api "$API" --model "$MODEL" --objective throughput --gbps "$FAST=400,$SLOW=100" \
  --dry-run --json >"$WORK/plan.json"

# 6. runners ready, a completion through exo, the reference from mlx-lm, the layers each runner loaded
in_a "$LV/bin/python" - "$WORK" "$FAST" "$SLOW" <<'EOF'
import json, re, sys, time, urllib.request
work, fast, slow = sys.argv[1:4]
for _ in range(180):
    s = json.load(urllib.request.urlopen("http://127.0.0.1:52415/state"))
    st = [next(iter(v)) for v in s["runners"].values()]
    if len(st) == 2 and all(x == "RunnerReady" for x in st):
        break
    time.sleep(1)
else:
    sys.exit(f"runners not ready: {st}")
inst = next(iter(s["instances"].values()))["MlxRingInstance"]["shardAssignments"]
held = {n: inst["runnerToShard"][r]["PipelineShardMetadata"] for n, r in inst["nodeToRunner"].items()}
planned = {row["node_id"]: row["gay_layers"] for row in json.load(open(work + "/plan.json"))["nodes"]}
body = {"model": "mlx-community/Llama-3.2-1B-Instruct-4bit", "messages": [{"role": "user", "content": "hello ring"}],
        "max_tokens": 24, "temperature": 0.0, "stream": False}
req = urllib.request.Request("http://127.0.0.1:52415/v1/chat/completions", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
got = json.load(urllib.request.urlopen(req, timeout=300))["choices"][0]["message"]["content"]

from mlx_lm import generate, load
from mlx_lm.sample_utils import make_sampler
model, tok = load(work + "/model")
prompt = tok.apply_chat_template(body["messages"], add_generation_prompt=True, tokenize=False)
ref = generate(model, tok, prompt, max_tokens=24, sampler=make_sampler(temp=0.0))
print(f"exo ring : {got!r}\nmlx-lm   : {ref!r}")
ok = got == ref
for name, node in (("a", fast), ("b", slow)):
    log = open(f"{work}/exo-{name}.log").read()
    last = log[log.rfind("shard_and_load"):]
    layers = sorted({int(k) for k in re.findall(r"\(layers\.(\d+)\): (?:Pipeline|Transformer)", last)})
    s0, e0 = held[node]["startLayer"], held[node]["endLayer"]
    print(f"node {name} ({node[:8]}): exo holds [{s0}, {e0}), planned {planned[node]}, runner built {len(layers)} layers")
    ok &= [s0, e0] == planned[node] and len(layers) == e0 - s0
print("LIVE RING OK" if ok else "LIVE RING MISMATCH")
sys.exit(0 if ok else 1)
EOF
