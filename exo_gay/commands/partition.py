"""`exo-gay partition`: the plan GayShardingStrategy would make, beside exo's default split."""

from __future__ import annotations

import argparse
import os
import textwrap

from .. import clusterfile
from ..cliutil import (
    add_cluster_argument,
    add_json,
    check_output,
    examples,
    parse_float,
    parse_int,
    print_json,
    print_table,
)
from ..errors import InputError
from ..jsonfile import atomic_write


def register(sub) -> None:
    p = sub.add_parser(
        "partition", help="plan a model's layers over an exo cluster (and compare with exo's default)",
        description="The plan GayShardingStrategy makes inside exo with the plugin's defaults (every node kept, "
                    "the objective from $EXO_GAY_OBJECTIVE), beside exo's own default split.",
        epilog=examples("exo-gay partition --model llama-3.1-70b --context 32768 \\",
                        "--cluster configs/cluster.example.json",
                        "# above: an exo model card id, as exo hands it to the strategy",
                        "# a config.json, with the ring drawn to ring.svg",
                        "exo-gay partition --model configs/models/llama-3.1-8b-instruct-4bit.json \\",
                        "--cluster configs/cluster.example.json --svg ring.svg",
                        "exo-gay partition --model llama-3.2-1b --json \\",
                        "--cluster configs/cluster.example.json"))
    p.add_argument("--model", required=True,
                   help="an exo model card id (llama-3.2-1b, ...), a config.json, a model folder, or a repo id "
                        "in the Hugging Face cache / exo's downloads")
    add_cluster_argument(p, required=True, help="the nodes: a cluster file in exo's manual-discovery format, "
                                                "optionally with a \"gay\" section per peer (mem_bandwidth_gbs)")
    p.add_argument("--objective", choices=("latency", "throughput"), default=None,
                   help="latency: least ms per token for one request; throughput: the fastest slowest stage "
                        "(default: $EXO_GAY_OBJECTIVE or latency, as the exo plugin)", metavar="{latency,throughput}")
    p.add_argument("--context", default="4096", metavar="TOKENS",
                   help="tokens of KV cache to reserve per node, 0 to 1e8 (default 4096)")
    p.add_argument("--headroom", default="0.25", metavar="SHARE",
                   help="share of each node's memory kept back, 0 to 0.95 (default 0.25)")
    p.add_argument("--hop-ms", default="3", metavar="MS",
                   help="assumed ms per hop between stages, 0 to 1e4 (default 3)")
    p.add_argument("--keep-all-nodes", default=True, action=argparse.BooleanOptionalAction,
                   help="give every node at least one layer when memory allows, as the exo plugin does "
                        "(the default); --no-keep-all-nodes lets the plan leave slow nodes idle")
    add_json(p, help="print the plan as JSON, with every number it used, instead of the tables")
    p.add_argument("--svg", default=None, metavar="FILE",
                   help="also draw both plans as rings to FILE (an SVG with a legend)")
    p.set_defaults(func=cmd_partition)


def cmd_partition(args) -> int:
    context = parse_int(args.context, "--context", 0, 10**8)
    headroom = parse_float(args.headroom, "--headroom", 0.0, 0.95)
    hop_ms = parse_float(args.hop_ms, "--hop-ms", 0.0, 1e4)
    cluster = clusterfile.load(args.cluster)
    check_output(args.svg, "--svg", inputs={"--cluster": args.cluster, "--model": args.model}, example="ring.svg")

    from .. import exo_plugin
    from ..strategies.checkpoint import ModelNotFound
    from ..strategies.model_costs import load_costs
    from ..strategies.nodes import nodes_from_cluster_file, ring_order
    from ..strategies.planner import PlanInfeasible, solve_keeping_nodes
    from ..strategies.problem import make_problem
    from ..strategies.report import build_report

    objective = args.objective or os.environ.get(exo_plugin.ENV_OBJECTIVE, exo_plugin.DEFAULT_OBJECTIVE)
    if objective not in ("latency", "throughput"):
        raise InputError(f"{exo_plugin.ENV_OBJECTIVE}={objective!r}: expected latency or throughput")
    ring = ring_order(nodes_from_cluster_file(cluster, headroom))
    try:
        costs = load_costs(args.model)  # as the plugin: over exo's layer count for a card
    except ModelNotFound as e:
        raise InputError(str(e)) from None
    problem = make_problem(costs, ring, context, hop_ms)
    try:
        plan = solve_keeping_nodes(problem, objective, args.keep_all_nodes)
    except PlanInfeasible as e:
        raise InputError(f"{costs.model_id} on {args.cluster} with {context} tokens of context: {e}") from None
    report = build_report(costs, ring, problem, plan, context, headroom)
    if args.svg:
        atomic_write(args.svg, _svg(report, costs.n_layers))
    if args.json:
        print_json(report)
    else:
        print_text(report)
    return 0


def _svg(rep: dict, n_layers: int) -> str:
    from ..strategies.report import exo_summary, plan_summary
    from ..strategies.svg import Band, plans_svg

    pol = {n["node_id"]: n["polarity"] for n in rep["nodes"]}
    ours = [Band(r["node_id"], pol[r["node_id"]], *r["layers"]) for r in rep["plan"]["nodes"]]
    theirs = [Band(r["node_id"], pol[r["node_id"]], *r["layers"],
                   "(dropped)" if r["dropped"] else "" if r["fits"] else "(OUT OF MEMORY)")
              for r in rep["exo_default"]["nodes"]]
    title = f"{rep['model']}: {rep['context_tokens']} tokens of context, objective {rep['objective']}"
    return plans_svg(title, [(plan_summary(rep), ours), (exo_summary(rep), theirs)], n_layers)


def print_text(rep: dict) -> None:
    from ..strategies.report import (
        LEGEND,
        NODE_HEADERS,
        NODE_NUMBERS,
        PLAN_HEADERS,
        PLAN_NUMBERS,
        exo_summary,
        node_rows,
        plan_rows,
        plan_summary,
    )

    for line in (f"model {rep['model']}, objective {rep['objective']} (least ms per token)"
                 if rep["objective"] == "latency" else
                 f"model {rep['model']}, objective {rep['objective']} (the fastest slowest stage)",
                 f"context {rep['context_tokens']} tokens, headroom {rep['headroom']:.0%}, "
                 f"{rep['hop_ms']} ms per hop between stages",
                 f"costs from {rep['cost_source']}"):
        _say(line)
    print()
    print_table(NODE_HEADERS, node_rows(rep), "nodes", right=NODE_NUMBERS, keep_whole=("node",))
    print()
    print_table(PLAN_HEADERS, plan_rows(rep["plan"]["nodes"]),
                "GayShardingStrategy (what exo runs with the plugin), GB per node",
                right=PLAN_NUMBERS, keep_whole=("node", "used/budget"))
    _say(plan_summary(rep))
    print()
    x = rep["exo_default"]
    print_table(PLAN_HEADERS, plan_rows(x["nodes"]), "exo default (RingMemoryWeighted), GB per node",
                right=PLAN_NUMBERS, keep_whole=("node", "used/budget"))
    dropped = [r["node_id"] for r in x["nodes"] if r["dropped"]]
    if dropped:
        _say(f"dropped by exo (a partition of zero layers): {', '.join(dropped)}")
    _say(exo_summary(rep))
    print()
    print("\n".join(LEGEND))


def _say(line: str) -> None:
    """A line of the report, folded to 80 columns (never inside a word or a name)."""
    print(textwrap.fill(line, 80, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False))
