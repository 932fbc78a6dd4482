"""`python -m capacity.report <stack> [--json]`: the capacity and cost of a stack, from its config alone.

Reads `Pulumi.<stack>.yaml` (secret keys stand in as fake values, as in the offline plan), validates it with
`stack_config.validate_stack_config`, and runs every node pool through the capacity model: the node type's
allocatable CPU and memory after the kubelet reserve and the daemonsets (mesh and monitoring agents included
when those add-ons are on), how many API and browser pods fit on a node, the nodes and concurrent sessions at
minimum and maximum scale, the utilization of the binding resource, and the monthly cost at on-demand and spot
prices. Nothing talks to Pulumi or a cloud. Exit status 1 when a pool cannot hold its workloads.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from stack_config import PROJECT, ConfigError, PlatformConfig, validate_stack_config
from stack_config.sizing import PoolPlan, overheads_for, pool_plans

from .model import MI, MONITORING_STACK, ZERO, control_plane_monthly
from .prices import HOURS_PER_MONTH, PRICE_REGIONS, PRICES_AS_OF


def load_config(stack: str) -> PlatformConfig:
    from offline.harness import stack_file_config  # reads the YAML only; no Pulumi runtime is started

    values, secret_keys = stack_file_config(stack)
    prefix = f"{PROJECT}:"
    own = {key[len(prefix):]: value for key, value in values.items() if key.startswith(prefix)}
    return validate_stack_config(own, {key[len(prefix):] for key in secret_keys if key.startswith(prefix)}).config


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _gib(num_bytes: int) -> str:
    return f"{num_bytes / 2**30:.2f}Gi"


def _pool_lines(plan: PoolPlan) -> list[str]:
    pool, report = plan.pool, plan.report
    lines = [f"## pool {pool.name}: {plan.instance_type or '(no type)'}, {pool.capacity_type}, "
             f"{pool.min_nodes}-{pool.max_nodes} nodes"]
    if report is None:
        lines.append(f"  '{plan.instance_type}' is not in the capacity table (capacity/prices.py); not computed")
        return lines
    node = report.node
    spec = node.instance
    lines += [
        f"  node         {spec.vcpu} vCPU / {spec.memory_gib:g}Gi, max {spec.max_pods} pods",
        f"  reserve      {node.reserve.cpu_m}m CPU, {node.reserve.memory_bytes / MI:.0f}Mi kube/system "
        f"+ {node.reserve.eviction_memory_bytes / MI:.0f}Mi eviction threshold",
        f"  allocatable  {node.allocatable.cpu_m}m CPU / {_gib(node.allocatable.memory_bytes)}",
        f"  daemonsets   {node.daemonsets.cpu_m}m CPU / {node.daemonsets.memory_bytes / MI:.0f}Mi",
        f"  for pods     {node.available.cpu_m}m CPU / {_gib(node.available.memory_bytes)}, {node.pod_slots} pod slots",
    ]
    if not report.workloads:
        lines.append("  no workload is scheduled only here")
    for fit in report.workloads:
        sessions = (f", sessions {fit.sessions_at_min}-{fit.sessions_at_max}" if fit.sessions_at_max else "")
        lines.append(f"  {fit.name:<12} pod {fit.pod.cpu_m}m / {fit.pod.memory_bytes / MI:.0f}Mi: {fit.pods_per_node} per node "
                     f"(bound by {fit.binding_resource}), replicas {fit.min_replicas}-{fit.max_replicas}{sessions}")
    lines += [
        f"  nodes needed {report.nodes_needed_min} at min scale, {report.nodes_needed_max} at max scale",
        f"  utilization  {report.binding_resource} {report.utilization:.0%} of what {report.nodes_needed_max} nodes offer, "
        "at max scale",
    ]
    if report.sessions_at_max:
        lines.append(f"  sessions     {report.sessions_at_min} concurrent at min scale, {report.sessions_at_max} at max")
    if spec.cloud == "kind":
        lines.append("  monthly      none (local)")
        lines += [f"  PROBLEM      {problem}" for problem in report.problems]
        return lines
    low, high = report.nodes_at_min_scale, report.nodes_at_max_scale
    lines += [
        f"  monthly      on-demand {_money(report.monthly(low, 'onDemand'))}-{_money(report.monthly(high, 'onDemand'))}, "
        f"spot {_money(report.monthly(low, 'spot'))}-{_money(report.monthly(high, 'spot'))} "
        f"({low}-{high} nodes at min-max scale x ${spec.on_demand_hourly}/h on-demand, ${spec.spot_hourly}/h spot, "
        f"{HOURS_PER_MONTH} h; this pool is {pool.capacity_type})",
        f"  ceiling      {pool.max_nodes} nodes (maxNodes): {_money(report.monthly(pool.max_nodes))} per month",
    ]
    lines += [f"  PROBLEM      {problem}" for problem in report.problems]
    return lines


def cluster_monthly(plans: list[PoolPlan]) -> tuple[float, float, float]:
    """USD per month for the nodes of every pool at its capacity type: at min scale, at max scale (the nodes the
    pods need, within each pool's bounds) and with every pool at maxNodes (the ceiling the config allows)."""
    reports = [p.report for p in plans if p.report]
    return (sum(r.monthly(r.nodes_at_min_scale) for r in reports),
            sum(r.monthly(r.nodes_at_max_scale) for r in reports),
            sum(r.monthly(r.max_nodes) for r in reports))


def render(stack: str, config: PlatformConfig) -> tuple[str, bool]:
    """The report text, and whether every pool holds its workloads."""
    provider = config.cluster.kind
    overheads = overheads_for(config)
    plans = pool_plans(config)
    region = PRICE_REGIONS.get({"eks": "aws", "gke": "gcp"}.get(provider, ""), "local")
    lines = [
        f"# capacity of stack {stack} ({provider}; prices as of {PRICES_AS_OF}, {region} list prices)",
        f"mesh {'on' if overheads.mesh else 'off'} (sidecar {overheads.sidecar.cpu_m}m / "
        f"{overheads.sidecar.memory_bytes / MI:.0f}Mi per pod when on), "
        f"monitoring agents {'on' if overheads.monitoring else 'off'}; node daemonsets: "
        + ", ".join(d.name for d in overheads.node_daemonsets),
        "",
    ]
    ok = True
    for plan in plans:
        lines += [*_pool_lines(plan), ""]
        ok = ok and (plan.report is None or plan.report.fits)
    if provider == "kind":
        reports = [p.report for p in plans if p.report]
        total = sum((f.pod.times(f.max_replicas) for r in reports for f in r.workloads), start=ZERO)
        host = reports[0].node.available if reports else None
        if host is not None:
            share = max(total.cpu_m / max(host.cpu_m, 1), total.memory_bytes / max(host.memory_bytes, 1))
            lines.append(f"## kind: every node shares one Docker host; all workloads at max scale request {total}, "
                         f"{share:.0%} of one host's {host}")
            lines.append("")
    at_min, at_max, ceiling = cluster_monthly(plans)
    control = control_plane_monthly(provider)
    lines.append(f"## cluster: nodes at each pool's capacity type {_money(at_min)} at min scale, {_money(at_max)} at "
                 f"max scale per month, control plane {_money(control)}, total {_money(at_min + control)}-"
                 f"{_money(at_max + control)} (every pool at maxNodes: {_money(ceiling + control)})")
    if overheads.monitoring:
        lines.append(f"  (plus the monitoring stack's own pods, ~{MONITORING_STACK.cpu_m}m CPU / "
                     f"{MONITORING_STACK.memory_bytes / MI:.0f}Mi, on whichever pool they land)")
    return "\n".join(lines) + "\n", ok


def _pool_json(plan: PoolPlan) -> dict[str, Any]:
    report = plan.report
    entry: dict[str, Any] = {"pool": plan.pool.name, "instanceType": plan.instance_type,
                             "report": asdict(report) if report else None}
    if report is not None:
        low, high = report.nodes_at_min_scale, report.nodes_at_max_scale
        entry["nodesAtMinScale"], entry["nodesAtMaxScale"] = low, high
        entry["monthly"] = {
            "onDemand": {"minScale": report.monthly(low, "onDemand"), "maxScale": report.monthly(high, "onDemand")},
            "spot": {"minScale": report.monthly(low, "spot"), "maxScale": report.monthly(high, "spot")},
            "ceiling": report.monthly(report.max_nodes),
        }
    return entry


def as_json(stack: str, config: PlatformConfig) -> dict[str, Any]:
    plans = pool_plans(config)
    at_min, at_max, ceiling = cluster_monthly(plans)
    control = control_plane_monthly(config.cluster.kind)
    return {
        "stack": stack,
        "pricesAsOf": PRICES_AS_OF,
        "pools": [_pool_json(p) for p in plans],
        "monthly": {"controlPlane": control, "minScale": at_min + control, "maxScale": at_max + control,
                    "ceiling": ceiling + control},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capacity.report", description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.stack)
    except FileNotFoundError:
        print(f"no stack file Pulumi.{args.stack}.yaml", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(as_json(args.stack, config), indent=2))
        return 0
    text, ok = render(args.stack, config)
    sys.stdout.write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
