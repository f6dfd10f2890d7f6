"""`exo-gay place`: the `gay` split posted to a running exo v1 cluster through its API."""

from __future__ import annotations

from ..cliutil import add_json, examples, parse_float, parse_int, print_json, print_table, show_progress, status
from ..errors import InputError

DEFAULT_WAIT_S = 30.0


def register(sub) -> None:
    p = sub.add_parser(
        "place", help="place a model on a running exo v1 cluster with the gay split (exo's API)",
        description="Reads exo v1's state and its own dry-run placement for MODEL over every node (GET "
                    "/instance/placement), plans the layers with exo-gay's planner (costed from exo's card: "
                    "KV cache at --context, node speed from the chip exo reports, mixture-of-experts streaming "
                    "only the active experts), keeps exo's ring, hosts, port and ranks, checks that the ranges "
                    "tile the model and fit each node's memory, posts the instance (POST /instance) and waits "
                    "until exo's state holds it. Prints exo's split and ours side by side.",
        epilog=examples("exo-gay place --api http://127.0.0.1:52415 \\",
                        "--model mlx-community/Llama-3.3-70B-Instruct-4bit",
                        "# look first: nothing is posted",
                        "exo-gay place --api http://127.0.0.1:52415 \\",
                        "--model mlx-community/Qwen3-30B-A3B-4bit --dry-run",
                        "exo-gay place --api http://mac1.local:52415 \\",
                        "--model mlx-community/Qwen3-30B-A3B-4bit --context 32768 \\",
                        "--gbps mac1=400,mac2=120 --json"))
    p.add_argument("--api", required=True, metavar="URL", help="exo's API base URL (exo listens on port 52415)")
    p.add_argument("--model", required=True, metavar="MODEL_ID",
                   help="exo's model id, as in `curl URL/models` (e.g. mlx-community/Llama-3.2-1B-Instruct-4bit)")
    p.add_argument("--min-nodes", default=None, metavar="N",
                   help="exo's min_nodes for its placement (default: every node exo knows)")
    p.add_argument("--objective", choices=("latency", "throughput"), default="latency",
                   help="latency: least ms per token; throughput: the fastest slowest stage (default latency)")
    p.add_argument("--context", default="4096", metavar="TOKENS",
                   help="tokens of KV cache each node must hold, 0 to 1e8 (default 4096)")
    p.add_argument("--headroom", default="0.25", metavar="SHARE",
                   help="share of each node's available memory kept back, 0 to 0.95 (default 0.25)")
    p.add_argument("--hop-ms", default="3", metavar="MS", help="assumed ms per hop between stages (default 3)")
    p.add_argument("--gbps", default="", metavar="NODE=GBPS,...",
                   help="memory bandwidth of nodes (node id or exo's friendly name); default: from the chip "
                        "exo reports (Apple's published figures), else equal")
    p.add_argument("--dry-run", action="store_true", help="plan and print, post nothing")
    p.add_argument("--wait", default=str(int(DEFAULT_WAIT_S)), metavar="SECONDS",
                   help="how long to wait for exo's state to hold the instance (default 30)")
    add_json(p, help="print exo's split and ours as JSON instead of a table")
    p.set_defaults(func=cmd_place)


def _gbps(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in [x for x in text.split(",") if x.strip()]:
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--gbps {part!r}: expected NODE=GBPS")
        out[name.strip()] = parse_float(value.strip(), f"--gbps {name.strip()}", 0.0, 1e5, above_lo=True)
    return out


def cmd_place(args) -> int:
    from ..cliutil import did_you_mean
    from ..exov1.client import ExoApi, ExoRefused
    from ..exov1.plan import plan_placement, read_placement

    context = parse_int(args.context, "--context", 0, 10**8)
    headroom = parse_float(args.headroom, "--headroom", 0.0, 0.95)
    hop_ms = parse_float(args.hop_ms, "--hop-ms", 0.0, 1e4)
    wait = parse_float(args.wait, "--wait", 0.0, 3600.0)
    named = _gbps(args.gbps)
    min_nodes = None if args.min_nodes is None else parse_int(args.min_nodes, "--min-nodes", 1, 10**4)
    api = ExoApi(args.api)

    state = api.state()
    models = api.model_ids()
    if args.model not in models:
        raise InputError(f"exo at {api.base} has no model {args.model!r}{did_you_mean(args.model, models)}")
    n_nodes = len((state.get("topology") or {}).get("nodes") or [])
    if n_nodes == 0:
        raise InputError(f"exo at {api.base} knows no nodes yet")
    if min_nodes is not None and min_nodes > n_nodes:
        raise InputError(f"--min-nodes {min_nodes}: exo knows {n_nodes} nodes")
    try:
        instance = api.placement(args.model, min_nodes or n_nodes)
    except ExoRefused as e:
        raise InputError(f"exo cannot place {args.model} on {min_nodes or n_nodes} nodes: {e}") from None
    names = {str(v.get("friendlyName")): k for k, v in (state.get("nodeIdentities") or {}).items()
             if isinstance(v, dict) and v.get("friendlyName")}
    gbps = {names.get(k, k): v for k, v in named.items()}
    known = set(read_placement(instance).node_ids)
    for k in gbps:
        if k not in known:
            raise InputError(f"--gbps: {k!r} is not a node of exo's ring{did_you_mean(k, sorted(known))}")
    planned = plan_placement(instance, state, context, hop_ms, args.objective, headroom, gbps)
    rep = planned.report.to_json()
    rep["posted"] = False
    instance_id = planned.placement.instance_id
    if not args.dry_run:
        if instance_id in (state.get("instances") or {}):
            raise InputError(f"exo already holds instance {instance_id}")
        api.create_instance(planned.instance)
        want = {s.node_id: seg for s, seg in zip(planned.placement.slots, planned.plan.segments, strict=True)}

        def holds(st: dict) -> bool:
            inst = (st.get("instances") or {}).get(instance_id)
            if inst is None:
                return False
            from ..exov1.plan import held_segments
            return held_segments(inst) == want

        with status(f"waiting for exo to hold instance {instance_id}", show_progress(args.json)):
            api.wait_for(holds, wait)
        rep["posted"] = True
    rep["instance_id"] = instance_id
    rep["instance"] = planned.instance
    if args.json:
        print_json(rep)
    else:
        _print(rep, args.dry_run, api.base)
    return 0


def _gb(b: float) -> str:
    return f"{b / 1e9:.2f}"


def _layers(seg: list[int]) -> str:
    s, e = seg
    return f"{s}-{e - 1} ({e - s})" if e > s else "-"


def _print(rep: dict, dry_run: bool, base: str) -> None:
    exo, ours = rep["exo"], rep["gay"]
    rows = []
    for n in rep["nodes"]:
        j = n["rank"]
        rows.append([str(j), n["name"] or n["node_id"][:12], n["chip"] or "?", _gb(n["ram_available"]),
                     f"{n['gbps']:.0f}", _layers(n["exo_layers"]), _gb(exo["held_bytes"][j]),
                     _layers(n["gay_layers"]), _gb(ours["held_bytes"][j])])
    print_table(["rank", "node", "chip", "GB free", "GB/s", "exo layers", "exo GB", "gay layers", "gay GB"], rows,
                f"{rep['model']}: {rep['n_layers']} layers, {rep['context_tokens']} tokens of context",
                right=("rank", "GB free", "GB/s", "exo GB", "gay GB"), keep_whole=("exo layers", "gay layers"))

    def line(name: str, s: dict) -> str:
        return (f"{name}: {s['latency_ms']:.2f} ms/token ({s['tokens_per_s']} tokens/s), slowest stage "
                f"{s['bottleneck_ms']:.2f} ms, {'fits' if s['fits'] else 'DOES NOT FIT'} every node's budget")

    print(line("exo v1 default", exo))
    print(line("gay           ", ours))
    print(f"costs: {rep['costs']}")
    if dry_run:
        print(f"dry run: nothing posted (instance {rep['instance_id']} would go to {base}/instance)")
    else:
        print(f"posted instance {rep['instance_id']}; exo's state holds it with the gay split")
