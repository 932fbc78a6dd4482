"""A local kind cluster, created and deleted by `pulumi up` / `pulumi destroy` through local commands."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi
import pulumi_command as command
import yaml

from stack_config.cluster import KindClusterConfig, NodePool

from .handle import ClusterHandle, cluster_identity, kubeconfig_ca, kubernetes_provider
from .storage import built_in_storage_class

# NodePorts the ingress gateway's Service uses on kind; the control-plane node maps them to host ports.
GATEWAY_NODE_PORTS = {"http": 30080, "https": 30443}


def _worker(pool: NodePool, image: str) -> dict[str, object]:
    node: dict[str, object] = {"role": "worker", "image": image, "labels": dict(pool.labels)}
    if pool.taints:
        # kubeadm passes nodeRegistration.taints to the kubelet as --register-with-taints, so the node is
        # tainted from its first heartbeat and nothing untolerated is ever scheduled onto it. Typed taints
        # are the same in kubeadm v1beta3 and v1beta4, unlike kubeletExtraArgs (a map in one, a list in the other).
        join_patch = {
            "kind": "JoinConfiguration",
            "nodeRegistration": {
                "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints],
            },
        }
        node["kubeadmConfigPatches"] = [yaml.safe_dump(join_patch, sort_keys=False)]
    return node


def render_kind_config(cluster: KindClusterConfig) -> str:
    """The kind cluster config: one control plane, then `initialNodes` workers per pool, labelled and tainted."""
    control_plane = {
        "role": "control-plane",
        "image": cluster.image,
        "extraPortMappings": [
            {"containerPort": GATEWAY_NODE_PORTS["http"], "hostPort": cluster.ingress_host_ports.http,
             "listenAddress": "127.0.0.1", "protocol": "TCP"},
            {"containerPort": GATEWAY_NODE_PORTS["https"], "hostPort": cluster.ingress_host_ports.https,
             "listenAddress": "127.0.0.1", "protocol": "TCP"},
        ],
    }
    workers = [_worker(pool, cluster.image) for pool in cluster.node_pools for _ in range(pool.initial_nodes)]
    document = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": cluster.name,
        # Only this machine may reach the API server.
        "networking": {"apiServerAddress": "127.0.0.1"},
        "nodes": [control_plane, *workers],
    }
    return yaml.safe_dump(document, sort_keys=False)


def kind_kubeconfig_path(cluster: KindClusterConfig) -> str:
    """Where kind writes this stack's kubeconfig: a file of its own, so `~/.kube/config` and its current
    context are never touched. `$HOME` is expanded by the command's shell, so the command text (which the
    cluster is replaced on) is the same on every machine."""
    return f'"$HOME/.kube/kind-{cluster.name}.kubeconfig"'


@dataclass(frozen=True)
class KindCommands:
    create: str
    delete: str
    read_kubeconfig: str


def render_kind_commands(cluster: KindClusterConfig) -> KindCommands:
    """The shell commands that create, delete and read back the stack's kind cluster.

    `create` runs only when Pulumi has no cluster in its state (first `up`, replacement, or a run interrupted
    while creating). A cluster of that name that exists then is a leftover of the interrupted run (possibly
    half-created, or built from an older config), never the one this config describes; so it is deleted first
    (`kind delete cluster` succeeds when there is nothing to delete) rather than adopted.
    """
    name = shlex.quote(cluster.name)
    kubeconfig = kind_kubeconfig_path(cluster)
    delete = f"kind delete cluster --name {name} --kubeconfig {kubeconfig}"
    return KindCommands(
        create=(f'mkdir -p "$HOME/.kube" && {delete} && '
                f"kind create cluster --name {name} --config - --kubeconfig {kubeconfig} --wait 300s"),
        delete=delete,
        # Read from the cluster's own node, not from any kubeconfig file.
        read_kubeconfig=f"kind get kubeconfig --name {name}",
    )


@dataclass(frozen=True)
class KindClusterArgs:
    cluster: KindClusterConfig


class KindCluster(pulumi.ComponentResource):
    """Creates the kind cluster once; later `pulumi up` runs leave it alone unless its config changes."""

    handle: ClusterHandle

    def __init__(self, name: str, args: KindClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:cluster:KindCluster", name, None, opts)
        cluster = args.cluster
        kind_config = render_kind_config(cluster)
        commands = render_kind_commands(cluster)

        self.create_cluster = command.local.Command(
            "kind-cluster",
            create=commands.create,
            delete=commands.delete,
            stdin=kind_config,
            opts=pulumi.ResourceOptions(
                parent=self,
                # A changed node layout needs a new cluster; the old one must go first, as both share the name.
                replace_on_changes=["create", "stdin"],
                delete_before_replace=True,
            ),
        )
        self.read_kubeconfig = command.local.Command(
            "kind-kubeconfig",
            create=commands.read_kubeconfig,
            triggers=[self.create_cluster.id],
            logging=command.local.Logging.NONE,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.create_cluster],
                additional_secret_outputs=["stdout"],
            ),
        )
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(self.read_kubeconfig.stdout)
        # A re-created kind cluster has a new CA; the fingerprint of a CA certificate is not secret.
        identifier = pulumi.Output.unsecret(self.read_kubeconfig.stdout.apply(
            lambda text: cluster_identity("kind", cluster.name, kubeconfig_ca(text))))
        provider = kubernetes_provider(
            identifier,
            kubeconfig,
            parent=self,
            # A deleted local cluster should not make `pulumi destroy` impossible.
            delete_unreachable=True,
        )
        self.handle = ClusterHandle(
            name=cluster.name,
            flavor="kind",
            kubernetes_version=cluster.kubernetes_version,
            node_pools=list(cluster.node_pools),
            kubeconfig=kubeconfig,
            provider=provider,
            storage_class=built_in_storage_class("kind"),
        )
        self.register_outputs({"kubeconfig": kubeconfig, "kindConfig": kind_config})
