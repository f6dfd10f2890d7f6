"""`exo-gay doctor [--model CARD] [--json]`: will exo (or the exe fork) in this Python run the gay strategy?

Run it with the Python of exo's venv. It says whether exo.main and exe.main are importable, their
versions and how this venv meets exo's pins, by which route the strategy will be picked up
(`exo-gay exo`, or exo's own command with EXO_PARTITIONING_STRATEGY=gay through the startup hook),
where the costs of a card come from (--model), and whether the miner is on. Exit 0 only when the
plugin will load into exo here; 1 when it will not (the line that says why comes first).
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import site
import sys
from typing import Any

from ..cliutil import add_json, examples, print_json
from ..errors import InputError

HOOK_PTH = "exo_gay_hook.pth"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor", help="check exo's venv: exo/exe importable, pins, how the strategy loads, costs, miner",
        description=__doc__.splitlines()[0],
        epilog=examples("exo-gay doctor --model llama-3.2-1b", "exo-gay doctor --json",
                        "# with exo's venv (exo-venv/bin/exo-gay); exit 0: the plugin will load"))
    p.add_argument("--model", default=None, metavar="CARD",
                   help="an exo card id (or a config path): say where its costs will come from")
    add_json(p)
    p.set_defaults(func=run)


# ------------------------------------------------------------------ facts (no printing)

def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(@\s*\S+|==\s*([^;\s]+))?\s*(?:;\s*(.*))?$")


def _marker_applies(marker: str | None) -> bool:
    if not marker:
        return True
    m = re.fullmatch(r"""\s*platform_system\s*==\s*['"]([^'"]+)['"]\s*""", marker)
    if m:
        return platform.system() == m.group(1)
    m = re.fullmatch(r"""\s*sys_platform\s*==\s*['"]([^'"]+)['"]\s*""", marker)
    if m:
        return sys.platform == m.group(1)
    return "extra" not in marker  # extras are not installed by default


def pins(dist: str = "exo") -> dict[str, Any]:
    """exo's declared requirements (its installed metadata) against what this venv holds."""
    from importlib import metadata

    try:
        reqs = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return {"declared": None, "met": [], "differ": [], "missing": []}
    met, differ, missing = [], [], []
    for r in reqs:
        m = _REQ.match(r)
        if not m or not _marker_applies(m.group(4)):
            continue
        name, url, want = m.group(1), m.group(2), m.group(3)
        have = _version(name)
        if have is None:
            missing.append(name)
        elif want and have != want:
            differ.append(f"{name} {have} (exo pins {want})")
        elif url and not want:
            differ.append(f"{name} {have} (exo names {url.lstrip('@ ').split('#')[0]})")
        else:
            met.append(name)
    return {"declared": len(met) + len(differ) + len(missing), "met": met, "differ": differ, "missing": missing}


def hook_files() -> list[str]:
    dirs = list(site.getsitepackages()) + [site.getusersitepackages()]
    return [os.path.join(d, HOOK_PTH) for d in dirs if os.path.isfile(os.path.join(d, HOOK_PTH))]


def package_facts(root: str) -> dict[str, Any]:
    from .. import exo_plugin

    main = f"{root}.main"
    out: dict[str, Any] = {"module": main, "importable": exo_plugin.importable(main)}
    if not out["importable"]:
        return out
    spec = importlib.util.find_spec(root)
    out["path"] = os.path.dirname(spec.origin) if spec and spec.origin else None
    out["version"] = _version(root) if root == "exo" else None
    out["distribution"] = out["version"] is not None
    return out


def plugin_loads(root: str) -> tuple[bool, str]:
    """Import what exo_plugin.install() patches, without patching: (will load, why not)."""
    from .. import exo_plugin

    try:
        exo_plugin.make_strategy_class(root)
        importlib.import_module(f"{root}.topology.ring_memory_weighted_partitioning_strategy")
        node = importlib.import_module(f"{root}.orchestration.node").Node
        for attr in ("get_current_shard", "process_prompt", "partitioning_strategy"):
            if attr != "partitioning_strategy" and not hasattr(node, attr):
                return False, f"{root}.orchestration.node.Node has no {attr} (not the legacy layout)"
        server = importlib.import_module(f"{root}.networking.grpc.grpc_server")
        if not hasattr(server.node_service_pb2_grpc, "add_NodeServiceServicer_to_server"):
            return False, f"{root}'s gRPC stubs have no add_NodeServiceServicer_to_server"
    except Exception as e:  # anything exo raises on import is the answer
        return False, f"{e.__class__.__name__}: {e}"
    return True, ""


def costs_facts(model: str) -> dict[str, Any]:
    from ..strategies.checkpoint import ModelNotFound
    from ..strategies.model_costs import load_costs

    try:
        c = load_costs(model)
    except ModelNotFound as e:
        raise InputError(str(e)) from None
    return {"model": model, "source": c.source, "n_layers": c.n_layers, "weight_bytes": c.total_weight_bytes()}


def miner_facts() -> dict[str, Any]:
    from .. import exo_plugin

    on = exo_plugin.miner_on()
    out: dict[str, Any] = {"on": on, "how": f"{exo_plugin.ENV_MINER}=1 or `exo-gay exo --miner`"}
    if on:
        out["grpc"] = _version("grpcio")
        out["numba"] = _version("numba")
    return out


def diagnose(model: str | None) -> dict[str, Any]:
    from .. import exo_plugin

    rep: dict[str, Any] = {
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "exo": package_facts("exo"), "exe": package_facts("exe"),
    }
    rep["pins"] = pins("exo") if rep["exo"].get("distribution") else None
    module = exo_plugin.default_module()
    routes: dict[str, Any] = {"cli": f"exo-gay exo -- ... (runs {module})" if module else None}
    hooks = hook_files()
    strategy_env = os.environ.get(exo_plugin.ENV_STRATEGY, "")
    routes["hook"] = {"pth": hooks, "variable": strategy_env or None,
                      "active": bool(hooks) and strategy_env.strip().lower() == "gay"}
    rep["routes"] = routes
    if module is None:
        loads, why = False, "neither exe.main nor exo.main is importable in this Python"
        from .exo import fix_command

        rep["fix"] = fix_command()
    else:
        loads, why = plugin_loads(exo_plugin.package_root(module))
    rep["plugin"] = {"loads": loads, "module": module, "why_not": why or None}
    rep["costs"] = costs_facts(model) if model else None
    rep["miner"] = miner_facts()
    return rep


# ------------------------------------------------------------------ the command

def _lines(rep: dict[str, Any]) -> list[str]:
    p = rep["plugin"]
    out = [f"plugin: {'loads' if p['loads'] else 'will NOT load'}"
           + (f" into {p['module']}" if p["loads"] else f": {p['why_not']}")
           + (f"; fix: {rep['fix']}" if rep.get("fix") else "")]
    out.append(f"python: {rep['python']['version']} ({rep['python']['executable']})")
    for root in ("exo", "exe"):
        f = rep[root]
        if not f["importable"]:
            out.append(f"{root}: {f['module']} not importable")
        else:
            ver = f"version {f['version']}" if f.get("version") else "no installed distribution (on the path)"
            out.append(f"{root}: {f['module']} importable from {f['path']}, {ver}")
    if rep["pins"]:
        pn = rep["pins"]
        out.append(f"pins: exo declares {pn['declared']}: {len(pn['met'])} met"
                   + (f"; differ: {', '.join(pn['differ'])}" if pn["differ"] else "")
                   + (f"; missing: {', '.join(pn['missing'])}" if pn["missing"] else ""))
    r = rep["routes"]
    out.append("route exo-gay exo: " + (r["cli"] if r["cli"] else "unavailable (no exo here)"))
    h = r["hook"]
    if not h["pth"]:
        out.append(f"route EXO_PARTITIONING_STRATEGY=gay python -m exo.main: unavailable ({HOOK_PTH} is not "
                   "in this Python's site-packages; reinstall exo-gay into it)")
    else:
        state = "set: exo's own command will run the gay strategy" if h["active"] else (
            f"not set to gay (now {h['variable']!r}): exo's own command runs exo's default strategy")
        out.append(f"route EXO_PARTITIONING_STRATEGY=gay python -m exo.main: hook {h['pth'][0]}; variable {state}")
    c = rep["costs"]
    out.append(f"costs: {c['model']}: {c['n_layers']} layers, {c['weight_bytes']:,} bytes, from {c['source']}" if c
               else "costs: give --model CARD to see where a card's costs come from")
    m = rep["miner"]
    out.append(f"miner: on ({m['how']}); grpcio {m['grpc']}, numba {m['numba']}" if m["on"]
               else f"miner: off (opt-in: {m['how']}); nothing but the planner is loaded at exo's start")
    return out


def run(args) -> int:
    rep = diagnose(args.model)
    if args.json:
        print_json(rep)
    else:
        print("\n".join(_lines(rep)))
    return 0 if rep["plugin"]["loads"] else 1
