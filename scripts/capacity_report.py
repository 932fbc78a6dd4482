"""`python -m scripts.capacity_report <stack> [--json]`: the capacity and cost of a stack, from its config alone.

Reads `Pulumi.<stack>.yaml` (secret keys stand in as fake values, as in the offline plan), validates it with
`stack_config.validate_stack_config`, and runs every node pool through the capacity model: the node type's
allocatable CPU and memory after the kubelet reserve and the daemonsets (mesh and monitoring agents included
when those add-ons are on), how many API and browser pods fit on a node, the nodes and concurrent sessions at
minimum and maximum scale, the utilization of the binding resource, and the monthly cost at on-demand and spot
prices. The platform services' own pods (`capacity.platform_services`: istiod, the ingress gateway, Prometheus,
Grafana, KEDA, cert-manager, metrics-server, cluster-autoscaler, at the requests and replicas their charts are
given) are counted on the pool that carries them, the first without a NoSchedule/NoExecute taint, one line per
layer. A workload on an on-demand base + spot burst pair is shown with each pool's share of its replicas
(`stack_config.sizing.base_and_burst`). For a kind stack it also says how many CPUs and how much memory Docker
needs. Costs use the list prices of the region `capacity/prices.py` has (us-east-1, us-central1); a stack
elsewhere gets a NOTE saying so. Nothing talks to Pulumi or a cloud. Exit status 1 when a pool cannot hold its
workloads, 2 on invalid config (`error: Pulumi.<stack>.yaml: line N: ...`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from capacity.data_stores import in_cluster_requests, managed_nodes
from capacity.headroom import PoolRoom, headroom_cost, timing_table, wait_for_a_node
from capacity.model import GI, MI, ZERO, Resources, control_plane_monthly
from capacity.platform_services import PlatformLayer, layers_total
from capacity.prices import HOURS_PER_MONTH, PRICE_REGIONS, PRICES_AS_OF
from stack_config import PROJECT, ConfigError, PlatformConfig, validate_stack_config
from stack_config.sizing import PoolPlan, overheads_for, pool_plans
from stack_config.stack_file import report_config_error
from stack_config.workloads import BrowserWorkload

from .capacity_scale import scale_json, scale_lines

REPO_ROOT = Path(__file__).resolve().parent.parent
CLOUD_NAMES = {"eks": "AWS", "gke": "Google Cloud"}


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


def _res(value: Resources) -> str:
    return f"{value.cpu_m}m / {value.memory_bytes / MI:.0f}Mi"


def _replicas(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def platform_lines(layers: tuple[PlatformLayer, ...]) -> list[str]:
    """One line per platform layer: its pods (replicas x requests) and the layer's total at min and max scale."""
    lines = []
    for layer in layers:
        pods = ", ".join(f"{pod.name} {_replicas(pod.replicas.min, pod.replicas.max)} x {_res(pod.requests)}"
                         for pod in layer.pods)
        low, high = layer.total("min"), layer.total("max")
        total = _res(high) if low == high else f"{_res(low)} to {_res(high)}"
        lines.append(f"  platform     {layer.name}: {pods} = {total}")
    if len(layers) > 1:
        low, high = layers_total(layers, "min"), layers_total(layers, "max")
        total = _res(high) if low == high else f"{_res(low)} at min scale, {_res(high)} at max"
        lines.append(f"  platform     all layers: {total} (no sidecar; counted in the nodes needed below)")
    return lines


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
    lines += platform_lines(plan.platform)
    if plan.role is not None and plan.partner is not None:
        names = ", ".join(plan.shares)
        lines.append(
            f"  pair         {'on-demand base' if plan.role == 'base' else 'spot burst'} of {names} with pool "
            f"{plan.partner.name}: "
            + ("the pods prefer it, so it holds the minimum through a spot reclaim" if plan.role == "base"
               else "it carries what the base does not hold; a reclaim ends the sessions on the reclaimed node"))
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


def data_store_lines(config: PlatformConfig) -> list[str]:
    """The stores: in-cluster pods on kind (counted in the host share), managed nodes on the clouds."""
    stores = config.data_stores
    if stores.external is not None:
        return ["## data stores: external (dataStores.external), not counted", ""]
    if not stores.enabled:
        return ["## data stores: off", ""]
    if config.cluster.kind == "kind":
        return [f"## data stores: in-cluster Valkey + PostgreSQL, one pod each, requesting "
                f"{_res(in_cluster_requests(config))} on the pool of the API (counted in the host share above)", ""]
    lines = ["## data stores (managed)"]
    unpriced = False
    for nodes in managed_nodes(config):
        hourly = nodes.hourly
        unpriced = unpriced or hourly is None
        price = "not priced" if hourly is None else f"{_money(hourly * HOURS_PER_MONTH)} per month"
        lines.append(f"  {nodes.store:<22} {nodes.count} x {nodes.node_type} ({nodes.note}): {price}")
    if unpriced:
        lines.append("  no sourced, dated list price for these node types is in capacity/data_stores.py STORE_HOURLY, "
                     "so the monthly total below leaves them out; price them with the provider's calculator")
    return [*lines, ""]


def cluster_monthly(plans: list[PoolPlan]) -> tuple[float, float, float]:
    """USD per month for the nodes of every pool at its capacity type: at min scale, at max scale (the nodes the
    pods need, within each pool's bounds) and with every pool at maxNodes (the ceiling the config allows)."""
    reports = [p.report for p in plans if p.report]
    return (sum(r.monthly(r.nodes_at_min_scale) for r in reports),
            sum(r.monthly(r.nodes_at_max_scale) for r in reports),
            sum(r.monthly(r.max_nodes) for r in reports))


def price_region(config: PlatformConfig) -> tuple[str, str]:
    """The region whose list prices the report uses, and a plain note when that is not the stack's region."""
    provider = config.cluster.kind
    priced = PRICE_REGIONS.get({"eks": "aws", "gke": "gcp"}.get(provider, ""), "local")
    stack_region = getattr(config.cluster, "region", None)
    if stack_region is None or stack_region == priced:
        return priced, ""
    return priced, (f"costs below use {priced} list prices, not {stack_region}'s (this stack's region): "
                    f"capacity/prices.py has {CLOUD_NAMES.get(provider, provider)} prices for {priced} only, and "
                    f"prices differ by region; check {stack_region}'s list prices before budgeting")


def docker_host_needs(plans: list[PoolPlan]) -> tuple[Resources, int]:
    """What one Docker host must offer a kind stack, and how many node containers it runs.

    Every workload and platform service at max scale (their requests), plus per node container (the control
    plane and `initialNodes` workers per pool, as components/clusters/kind.py creates them) the kind system
    reserve and the node daemonsets: all of it shares the host's CPUs and memory.
    """
    reports = [(p, p.report) for p in plans if p.report]
    total = sum((f.pod.times(f.max_replicas) for _, r in reports for f in r.workloads), start=ZERO)
    total = total + layers_total([layer for p in plans for layer in p.platform])
    per_node = [(p.pool.initial_nodes, r.node.reserve.total + r.node.daemonsets) for p, r in reports]
    if per_node:
        per_node.append((1, per_node[0][1]))  # the control-plane node
    for count, cost in per_node:
        total = total + cost.times(count)
    return total, sum(count for count, _ in per_node)


def _room(plan: PoolPlan) -> PoolRoom | None:
    report = plan.report
    if report is None:
        return None
    occupied = tuple([(fit.pod, fit.min_replicas) for fit in report.workloads]
                     + [(group.requests, group.min_replicas) for group in report.platform_pods])
    spec = report.node.instance
    hourly = spec.spot_hourly if plan.pool.capacity_type == "spot" else spec.on_demand_hourly
    return PoolRoom(plan.pool.name, report.node, occupied, plan.pool.min_nodes, plan.pool.max_nodes, hourly)


def headroom_lines(config: PlatformConfig, plans: list[PoolPlan]) -> list[str]:
    """Per browser workload: where its placeholders land at minimum scale, the nodes and money they add, and the
    waiting they save a burst; then the sourced timing table."""
    provider = config.cluster.kind
    overheads = overheads_for(config)
    wait, official = wait_for_a_node(provider)
    waits = "never (no node autoscaler)" if wait is None else \
        f"~{wait} s per new node ({'official figures' if official else 'partly an ASSUMPTION, see the table'})"
    lines = ["## headroom: warm capacity for a burst of sessions (capacity/headroom.py)"]
    for name, workload in config.workload_items():
        if not isinstance(workload, BrowserWorkload):
            continue
        if workload.headroom is None:
            lines.append(f"  {name}: off (workloads.{name}.headroom); sessions beyond the free room wait {waits}")
            continue
        placeholder = Resources.of(workload.resources.requests.cpu, workload.resources.requests.memory) \
            + Resources.of("0", workload.shm_size) + overheads.per_pod
        carrying = sorted((p for p in plans if any(n == name for n, _ in p.workloads)),
                          key=lambda p: p.pool.capacity_type != "onDemand")  # the pods prefer on-demand nodes
        rooms = [room for room in map(_room, carrying) if room is not None]
        cost = headroom_cost(name, workload.headroom.pods, workload.sessions_per_pod, placeholder, rooms)
        where = "; ".join(f"{p.placeholders} on {p.pool} (+{p.extra_nodes} node(s), {_money(p.monthly)}/month)"
                          for p in cost.placements) or "nowhere"
        lines += [
            f"  {name}: {cost.pods} placeholders of {_res(placeholder)} (one browser pod with /dev/shm and sidecar): "
            f"{where}; total +{cost.extra_nodes} node(s), {_money(cost.monthly)} per month at minimum scale",
            f"  {name}: buys {cost.sessions} sessions ({cost.pods} pods x {workload.sessions_per_pod}) that start at once on "
            f"warm nodes instead of waiting {waits}; later ones wait as before, but the autoscaler started at the "
            "first eviction. The first session pod on a node that ran only placeholders still pulls its image",
        ]
        if cost.unplaced:
            lines.append(f"  {name}: {cost.unplaced} placeholder(s) fit below no pool's maxNodes: they stay Pending and "
                         "reserve nothing")
    return [*lines, *timing_table(), ""]


def render(stack: str, config: PlatformConfig) -> tuple[str, bool]:
    """The report text, and whether every pool holds its workloads."""
    provider = config.cluster.kind
    overheads = overheads_for(config)
    plans = pool_plans(config)
    region, region_note = price_region(config)
    lines = [
        f"# capacity of stack {stack} ({provider}; prices as of {PRICES_AS_OF}, {region} list prices)",
        *([f"NOTE: {region_note}"] if region_note else []),
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
        total = total + layers_total([layer for p in plans for layer in p.platform]) + in_cluster_requests(config)
        host = reports[0].node.available if reports else None
        if host is not None:
            share = max(total.cpu_m / max(host.cpu_m, 1), total.memory_bytes / max(host.memory_bytes, 1))
            lines.append(f"## kind: every node shares one Docker host; all workloads and platform services at max "
                         f"scale request {total}, {share:.0%} of one host's {host}")
            needs, nodes = docker_host_needs(plans)
            cpus, memory_gib = docker_minimum(needs)
            lines.append(f"## docker: give Docker at least {cpus} CPUs and {memory_gib} GiB of memory: the requests "
                         f"above plus, on each of the {nodes} node containers (control plane and workers), the "
                         f"system reserve and daemonsets: {needs} in all, rounded up")
            lines.append("")
    if provider != "kind" or any(isinstance(w, BrowserWorkload) and w.headroom for _, w in config.workload_items()):
        lines += headroom_lines(config, plans)
    lines += data_store_lines(config)
    lines += scale_lines(config)
    at_min, at_max, ceiling = cluster_monthly(plans)
    control = control_plane_monthly(provider)
    stores_monthly = sum(n.hourly or 0.0 for n in managed_nodes(config)) * HOURS_PER_MONTH
    at_min, at_max, ceiling = at_min + stores_monthly, at_max + stores_monthly, ceiling + stores_monthly
    lines.append(f"## cluster: nodes at each pool's capacity type {_money(at_min)} at min scale, {_money(at_max)} at "
                 f"max scale per month, control plane {_money(control)}, total {_money(at_min + control)}-"
                 f"{_money(at_max + control)} (every pool at maxNodes: {_money(ceiling + control)})")
    carriers = [p for p in plans if p.platform]
    if carriers:
        layers = [layer for p in carriers for layer in p.platform]
        lines.append(f"  (the platform services' pods, {_res(layers_total(layers, 'min'))} at min scale and "
                     f"{_res(layers_total(layers, 'max'))} at max, are counted on pool "
                     f"{' and '.join(p.pool.name for p in carriers)})")
    return "\n".join(lines) + "\n", ok


def docker_minimum(needs: Resources) -> tuple[int, int]:
    """Whole CPUs and GiB of memory that cover `needs`."""
    return -(-needs.cpu_m // 1000), -(-needs.memory_bytes // GI)


def _pool_json(plan: PoolPlan) -> dict[str, Any]:
    report = plan.report
    entry: dict[str, Any] = {"pool": plan.pool.name, "instanceType": plan.instance_type,
                             "report": asdict(report) if report else None,
                             "platformServices": [
                                 {"layer": layer.name, "minScale": asdict(layer.total("min")),
                                  "maxScale": asdict(layer.total("max")),
                                  "pods": [{"name": pod.name, "release": pod.release, "requests": asdict(pod.requests),
                                            "minReplicas": pod.replicas.min, "maxReplicas": pod.replicas.max}
                                           for pod in layer.pods]}
                                 for layer in plan.platform]}
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
    region, region_note = price_region(config)
    document: dict[str, Any] = {
        "stack": stack,
        "pricesAsOf": PRICES_AS_OF,
        "pricesRegion": region,
        "pricesNote": region_note or None,
        "pools": [_pool_json(p) for p in plans],
        "dataStores": {"inCluster": asdict(in_cluster_requests(config)),
                       "managed": [{**asdict(n), "hourly": n.hourly} for n in managed_nodes(config)]},
        "monthly": {"controlPlane": control, "minScale": at_min + control, "maxScale": at_max + control,
                    "ceiling": ceiling + control},
        "atScale": scale_json(config),
    }
    if config.cluster.kind == "kind":
        needs, nodes = docker_host_needs(plans)
        cpus, memory_gib = docker_minimum(needs)
        document["dockerHost"] = {"cpus": cpus, "memoryGiB": memory_gib, "nodeContainers": nodes,
                                  "requests": asdict(needs)}
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.capacity_report", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("stack")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.stack)
    except FileNotFoundError:
        from offline.harness import stack_names

        print(f"error: no stack file Pulumi.{args.stack}.yaml; stacks: {', '.join(stack_names(REPO_ROOT))}",
              file=sys.stderr)
        return 2
    except (ConfigError, yaml.YAMLError) as error:
        print(report_config_error(args.stack, REPO_ROOT, error), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(args.stack, config), indent=2))
        return 0
    text, ok = render(args.stack, config)
    sys.stdout.write(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
