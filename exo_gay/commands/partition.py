"""`exo-gay partition`: the plan GayShardingStrategy would make, beside exo's default split."""

from __future__ import annotations

import argparse
import json
import os
import sys
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
        description="The plan GayShardingStrategy makes inside exo with the plugin's defaults (nodes kept only "
                    "where they do not cost more, the objective from $EXO_GAY_OBJECTIVE), beside exo's own "
                    "default split, both scored by the same time model.",
        epilog=examples("exo-gay partition --model llama-3.1-70b --context 32768 \\",
                        "--cluster configs/cluster.example.json",
                        "# above: an exo model card id, as exo hands it to the strategy",
                        "exo-gay partition --list-models",
                        "# a config.json, with the ring drawn to ring.svg",
                        "exo-gay partition --model configs/models/llama-3.1-8b-instruct-4bit.json \\",
                        "--cluster configs/cluster.example.json --svg ring.svg",
                        "exo-gay partition --model llama-3.2-1b --json \\",
                        "--cluster configs/cluster.example.json"))
    p.add_argument("--model", default=None,
                   help="an exo model card id (llama-3.2-1b, ...; --list-models lists them), a config.json, a model "
                        "folder, or a repo id in the Hugging Face cache / exo's downloads")
    p.add_argument("--list-models", action="store_true",
                   help="list exo's model card ids this planner knows (with layers and size) and exit")
    p.add_argument("--measure", action="store_true",
                   help="measure this machine (numpy on the CPU: memory stream and matmul, a few seconds, cached "
                        "per machine) and print the \"gay\" section to put in its peer entry, then exit")
    add_cluster_argument(p, help="the nodes: a cluster file in exo's manual-discovery format, optionally with a "
                                 "\"gay\" section per peer (mem_bandwidth_gbs, tflops, colors_per_second)")
    p.add_argument("--objective", choices=OBJECTIVE_CHOICES, default=None,
                   metavar="{" + ",".join(OBJECTIVE_CHOICES) + "}",
                   help="latency: least ms per token for one request; throughput: the fastest slowest stage "
                        "(pipelined requests); ttft: least time to the first token; both: least time for a whole "
                        "request (prefill + --gen tokens) (default: $EXO_GAY_OBJECTIVE or latency, as the exo plugin)")
    p.add_argument("--context", default="4096", metavar="TOKENS",
                   help="tokens of KV cache to reserve per node and to read per decoded token, 0 to 1e8 "
                        "(default 4096)")
    p.add_argument("--prompt", default="1024", metavar="TOKENS",
                   help="prompt tokens for the time to first token, 1 to 1e6 (default 1024)")
    p.add_argument("--gen", default="256", metavar="TOKENS",
                   help="tokens generated per request, for --objective both, 0 to 1e6 (default 256)")
    p.add_argument("--headroom", default="0.25", metavar="SHARE",
                   help="share of each node's memory kept back, 0 to 0.95 (default 0.25)")
    p.add_argument("--hop-ms", default="3", metavar="MS",
                   help="assumed ms per hop between stages, 0 to 1e4 (default 3)")
    p.add_argument("--keep-all-nodes", default=False, action=argparse.BooleanOptionalAction,
                   help="give every node at least one layer when memory allows, even where that costs time "
                        "(default: a node is kept only when it does not cost more; the report says what keeping "
                        "every node would cost)")
    add_json(p, help="print the plan as JSON, with every number it used, instead of the tables")
    p.add_argument("--svg", default=None, metavar="FILE",
                   help="also draw both plans as rings to FILE (an SVG with a legend)")
    p.set_defaults(func=cmd_partition)


OBJECTIVE_CHOICES = ("latency", "throughput", "ttft", "both")


def list_models(as_json: bool) -> int:
    from ..strategies.cards import card_costs, card_table

    rows = []
    for card in sorted(card_table().values(), key=lambda c: c.card_id):
        c = card_costs(card)
        moe = c.active_weight_bytes() != c.total_weight_bytes()
        rows.append({"card_id": card.card_id, "repo": card.repo, "layers": card.exo_layers,
                     "weights_gb": round(c.total_weight_bytes() / 1e9, 2),
                     "active_gb": round(c.active_weight_bytes() / 1e9, 2) if moe else None})
    if as_json:
        print_json(rows)
        return 0
    print_table(["card id", "layers", "GB", "per token", "MLX repo"],
                [[r["card_id"], str(r["layers"]), f"{r['weights_gb']:.2f}",
                  f"{r['active_gb']:.2f} (MoE)" if r["active_gb"] is not None else "", r["repo"]] for r in rows],
                f"{len(rows)} exo model cards (exo-gay partition --model CARD_ID)", right=("layers", "GB"),
                keep_whole=("card id",))
    return 0


def _unknown_model(model: str, why: str) -> InputError:
    import difflib

    from ..strategies.cards import card_table

    close = difflib.get_close_matches(model.lower(), sorted(card_table()), n=3, cutoff=0.75)
    if close:
        return InputError(f"model {model}: not an exo card id; did you mean {' or '.join(close)}? "
                          f"(exo-gay partition --list-models lists them)")
    return InputError(f"{why} (exo-gay partition --list-models lists exo's card ids)")


def cmd_partition(args) -> int:
    if args.list_models:
        return list_models(args.json)
    if args.measure:
        from ..strategies.measure import measure_machine

        m = measure_machine()
        gay = {"gay": {"mem_bandwidth_gbs": m["mem_bandwidth_gbs"], "tflops": m["tflops"]}}
        if args.json:
            print_json({**gay, "how": m["how"], "cpu": m["cpu"], "cached": m["cached"]})
        else:
            print(f"this machine ({m['cpu']}): {m['mem_bandwidth_gbs']} GB/s, {m['tflops']} TFLOPS ({m['how']}"
                  + (f"; cached in {m['cached']}" if m["cached"] else "") + ")")
            print("in its peer entry of the cluster file:")
            print(json.dumps(gay))
        return 0
    if not args.model or not args.cluster:
        raise InputError("partition needs --model and --cluster (or --list-models, or --measure)")
    context = parse_int(args.context, "--context", 0, 10**8)
    prompt = parse_int(args.prompt, "--prompt", 1, 10**6)
    gen = parse_int(args.gen, "--gen", 0, 10**6)
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
    if objective not in OBJECTIVE_CHOICES:
        raise InputError(f"{exo_plugin.ENV_OBJECTIVE}={objective!r}: expected one of {', '.join(OBJECTIVE_CHOICES)}")
    ring = ring_order(nodes_from_cluster_file(cluster, headroom))
    try:
        costs = load_costs(args.model)  # as the plugin: over exo's layer count for a card
    except ModelNotFound as e:
        raise _unknown_model(args.model, str(e)) from None
    problem = make_problem(costs, ring, context, hop_ms, prompt, gen)
    try:
        plan = solve_keeping_nodes(problem, objective, args.keep_all_nodes)
    except PlanInfeasible as e:
        raise InputError(f"{costs.model_id} on {args.cluster} with {context} tokens of context: {e}") from None
    report = build_report(costs, ring, problem, plan, context, headroom, args.keep_all_nodes, prompt)
    if args.svg:
        atomic_write(args.svg, _svg(report, costs.n_layers))
    if args.json:
        print_json(report)
    else:
        print_text(report)
    if args.svg:
        # on stderr with --json, so that stdout stays one JSON document
        print(f"wrote {args.svg}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _svg(rep: dict, n_layers: int) -> str:
    from ..strategies.report import exo_summary, plan_summary
    from ..strategies.svg import Band, plans_svg

    def bands(rows, exo):
        out = []
        for r in rows:
            note = "(dropped)" if r.get("dropped") else "" if r["fits"] else "(OUT OF MEMORY)"
            out.append(Band(r["node_id"], r["bound"], *r["layers"], note, r["used_gb"], r["budget_gb"],
                            r["ms_per_token"]))
        return out

    title = (f"{rep['model']}: {rep['context_tokens']} tokens of context, objective {rep['objective']}")
    layer_terms = _layer_terms(rep)
    return plans_svg(title, [(plan_summary(rep), bands(rep["plan"]["nodes"], False)),
                             (exo_summary(rep), bands(rep["exo_default"]["nodes"], True))],
                     n_layers, [n["node_id"] for n in rep["nodes"]], layer_terms)


def _layer_terms(rep: dict) -> list[str]:
    """Per layer, the term that dominates the bytes it streams per token (attention + KV vs norms vs FFN)."""
    out = []
    ctx = rep["context_tokens"]
    for ly in rep["costs"]["layers"]:
        window = ly["kv_window"]
        kv = ly["kv_per_token"] * (ctx if window is None else min(ctx, window)) + ly["kv_fixed"]
        ffn = ly["ffn"] if ly.get("ffn_active") is None else ly["ffn_active"]
        parts = (ly["attention"] + kv, ly["norm"], ffn)
        out.append(("MINUS", "ERGODIC", "PLUS")[max(range(3), key=lambda i: (parts[i], -i))])
    return out


def print_text(rep: dict) -> None:
    from ..strategies.report import (
        LEGEND,
        NODE_HEADERS,
        NODE_NUMBERS,
        PLAN_HEADERS,
        PLAN_NUMBERS,
        comparison,
        exo_summary,
        keep_all_text,
        node_rows,
        plan_rows,
        plan_summary,
    )

    goal = {"latency": "least ms per token", "throughput": "the fastest slowest stage",
            "ttft": "least time to the first token", "both": f"least time for a prompt + {rep['gen_tokens']} tokens"}
    for line in (f"model {rep['model']}, objective {rep['objective']} ({goal[rep['objective']]})",
                 f"context {rep['context_tokens']} tokens, prompt {rep['prompt_tokens']} tokens, headroom "
                 f"{rep['headroom']:.0%}, {rep['hop_ms']} ms per hop between stages",
                 f"costs from {rep['cost_source']}"):
        _say(line)
    print()
    print_table(NODE_HEADERS, node_rows(rep), "nodes", right=NODE_NUMBERS, keep_whole=("node",))
    print()
    print_table(PLAN_HEADERS, plan_rows(rep["plan"]["nodes"]),
                "GayShardingStrategy (what exo runs with the plugin), in ring order",
                right=PLAN_NUMBERS, keep_whole=("node", "used/budget GB"))
    _say(plan_summary(rep))
    _say(keep_all_text(rep))
    print()
    x = rep["exo_default"]
    print_table(PLAN_HEADERS, plan_rows(x["nodes"]), "exo default (RingMemoryWeighted), scored by the same model",
                right=PLAN_NUMBERS, keep_whole=("node", "used/budget GB"))
    dropped = [r["node_id"] for r in x["nodes"] if r["dropped"]]
    if dropped:
        _say(f"dropped by exo (a partition of zero layers): {', '.join(dropped)}")
    _say(exo_summary(rep))
    for line in comparison(rep):
        _say(line)
    print()
    print("\n".join(LEGEND))


def _say(line: str) -> None:
    """A line of the report, folded to 80 columns (never inside a word or a name)."""
    print(textwrap.fill(line, 80, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False))
