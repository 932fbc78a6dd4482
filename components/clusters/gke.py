"""A regional GKE Standard cluster from plain pulumi_gcp resources: VPC-native network, private nodes, node pools.

Dataplane V2 (eBPF) enforces the platform's NetworkPolicies; Workload Identity replaces node credentials for
pods; nodes run as a dedicated service account with only logging/monitoring/registry-read roles. GKE's own
cluster autoscaler sizes every pool between its bounds, so nothing is installed in the cluster for that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import yaml

from capacity.nat import NatPorts
from stack_config.cluster import GkeClusterConfig, NodePool

from .handle import ClusterHandle, GcpNetwork, GkeIdentity, cluster_identity, kubernetes_provider
from .storage import built_in_storage_class

GKE_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
NODE_SERVICE_ACCOUNT_ROLES = [
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
]
# Access is decided by the service account's IAM roles; the scope only stops being a second, coarser filter.
NODE_OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
PODS_RANGE = "pods"
SERVICES_RANGE = "services"
DEFAULT_ZONE_COUNT = 3
"""Zones a regional pool spans when `zones` is not set (GKE's default for most regions)."""


def node_service_account_id(cluster_name: str) -> str:
    """6-30 characters, starting with a letter, not ending in '-'."""
    return f"{cluster_name[:24].rstrip('-')}-nodes"


def initial_nodes_per_zone(pool: NodePool, zones: int) -> int:
    """GKE's initial_node_count is per zone; the pool's initial size is a total."""
    return max(math.ceil(pool.initial_nodes / zones), 1 if pool.min_nodes > 0 else 0)


def render_exec_kubeconfig(cluster_name: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig whose user runs gke-gcloud-auth-plugin for a short-lived token on every use."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
            "interactiveMode": "Never",
            "installHint": "Install gke-gcloud-auth-plugin: `gcloud components install gke-gcloud-auth-plugin`.",
        }
    }
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name,
                      "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": user}],
    }
    return yaml.safe_dump(document, sort_keys=False)


@dataclass(frozen=True)
class GkeClusterArgs:
    cluster: GkeClusterConfig
    control_plane_ports: tuple[int, ...]
    """Pod ports the API server calls (webhooks, aggregated APIs) of the installed platform services, handed down
    as data (components/common/webhook_ports.py): opened from the control plane's range to the nodes."""
    nat_ports: NatPorts
    """Cloud NAT ports per VM, sized from the browser sessions one node carries (stack_config/egress.py)."""


class GkeCluster(pulumi.ComponentResource):
    """Network, NAT, node service account, GKE control plane and one node pool per configured pool."""

    handle: ClusterHandle

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:cluster:GkeCluster", name, None, opts)
        config = args.cluster
        self._config = config
        self.gcp_provider = gcp.Provider(
            "gcp",
            gcp.ProviderArgs(project=config.project, region=config.region,
                             default_labels={"browser-platform-cluster": config.name, "managed-by": "pulumi"}),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.network = gcp.compute.Network(
            "vpc",
            gcp.compute.NetworkArgs(name=config.name, auto_create_subnetworks=False, routing_mode="REGIONAL"),
            opts=self._opts(),
        )
        self.subnetwork = gcp.compute.Subnetwork(
            "nodes",
            gcp.compute.SubnetworkArgs(
                name=f"{config.name}-nodes",
                network=self.network.id,
                region=config.region,
                ip_cidr_range=config.node_cidr,
                private_ip_google_access=True,  # private nodes reach Google APIs without NAT
                secondary_ip_ranges=[
                    gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=config.pods_cidr),
                    gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE,
                                                               ip_cidr_range=config.services_cidr),
                ],
            ),
            opts=self._opts(),
        )
        router = gcp.compute.Router(
            "nat",
            gcp.compute.RouterArgs(name=f"{config.name}-nat", network=self.network.id, region=config.region),
            opts=self._opts(),
        )
        gcp.compute.RouterNat(
            "nat",
            gcp.compute.RouterNatArgs(
                name=f"{config.name}-nat",
                router=router.name,
                region=config.region,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                # A browser node opens hundreds of connections: the static 64 ports per VM run out. Dynamic
                # allocation grows each VM from min to max (powers of two; capacity/nat.py); it excludes
                # endpoint-independent mapping.
                enable_dynamic_port_allocation=True,
                enable_endpoint_independent_mapping=False,
                min_ports_per_vm=args.nat_ports.min_ports_per_vm,
                max_ports_per_vm=args.nat_ports.max_ports_per_vm,
                log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            ),
            opts=self._opts(),
        )

        self.node_service_account = gcp.serviceaccount.Account(
            "nodes",
            gcp.serviceaccount.AccountArgs(
                account_id=node_service_account_id(config.name),
                display_name=f"GKE nodes of {config.name}",
                description="Least-privilege node identity: logs, metrics, image pulls. Not the default compute SA.",
            ),
            opts=self._opts(),
        )
        role_grants = [
            gcp.projects.IAMMember(
                f"nodes-{role.split('/', 1)[1].replace('.', '-')}",
                gcp.projects.IAMMemberArgs(project=config.project, role=role, member=self.node_service_account.member),
                opts=self._opts(),
            )
            for role in NODE_SERVICE_ACCOUNT_ROLES
        ]

        self.cluster = gcp.container.Cluster(
            "gke",
            gcp.container.ClusterArgs(
                name=config.name,
                location=config.region,
                node_locations=list(config.zones) if config.zones else None,
                network=self.network.id,
                subnetwork=self.subnetwork.id,
                # Pools are managed below; the default pool exists only while the control plane is created.
                remove_default_node_pool=True,
                initial_node_count=1,
                # Only for that short-lived default pool: without it, its nodes would run as the Compute Engine
                # default service account (or fail to start where that account is disabled). After the pool is
                # removed the API reports another pool's config here; see ignore_changes below.
                node_config=gcp.container.ClusterNodeConfigArgs(
                    service_account=self.node_service_account.email,
                    oauth_scopes=NODE_OAUTH_SCOPES,
                    workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                    shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                        enable_secure_boot=True, enable_integrity_monitoring=True),
                ),
                min_master_version=config.kubernetes_version,
                release_channel=gcp.container.ClusterReleaseChannelArgs(channel=config.release_channel),
                networking_mode="VPC_NATIVE",
                ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                    cluster_secondary_range_name=PODS_RANGE, services_secondary_range_name=SERVICES_RANGE),
                datapath_provider="ADVANCED_DATAPATH",
                workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(workload_pool=config.workload_pool),
                private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                    enable_private_nodes=True,
                    # The public endpoint stays, limited to the authorized networks, so `pulumi up` can reach it.
                    enable_private_endpoint=False,
                    master_ipv4_cidr_block=config.master_ipv4_cidr,
                ),
                master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                    cidr_blocks=[
                        gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                            cidr_block=n.cidr_block, display_name=n.display_name)
                        for n in config.authorized_networks
                    ],
                    gcp_public_cidrs_access_enabled=False,
                ),
                enable_shielded_nodes=True,
                enable_legacy_abac=False,
                master_auth=gcp.container.ClusterMasterAuthArgs(
                    client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                        issue_client_certificate=False),
                ),
                logging_config=gcp.container.ClusterLoggingConfigArgs(
                    enable_components=["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "CONTROLLER_MANAGER",
                                       "SCHEDULER"]),
                monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                    enable_components=["SYSTEM_COMPONENTS"],
                    managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
                ),
                deletion_protection=config.deletion_protection,
                resource_labels={"browser-platform-cluster": config.name},
            ),
            opts=pulumi.ResourceOptions.merge(
                self._opts(
                    depends_on=role_grants,
                    # nodeConfig only shapes the default pool at creation; afterwards the API refills it from
                    # the first remaining pool, so every refresh would diff and ask for a replacement (which
                    # deletion protection then blocks). Ignoring it is exact: a change to it can never take
                    # effect, since that pool no longer exists.
                    ignore_changes=["nodeConfig"],
                ),
                # The same switch as the provider's deletion protection: with it on, the preview of a destroy or a
                # replacement fails, so nothing is deleted; the provider flag alone fails only at the cluster,
                # after the node pools and every Kubernetes object are gone.
                pulumi.ResourceOptions(protect=config.deletion_protection),
            ),
        )

        self.control_plane_firewall = self._control_plane_firewall(args.control_plane_ports)

        zone_count = len(config.zones) if config.zones else DEFAULT_ZONE_COUNT
        self.node_pools = [self._node_pool(pool, zone_count, role_grants) for pool in config.node_pools]

        ready = [p.id for p in self.node_pools]
        if self.control_plane_firewall is not None:  # no webhook is installed before the control plane can reach it
            ready.append(self.control_plane_firewall.id)
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate, *ready).apply(
                lambda values: render_exec_kubeconfig(config.name, values[0], values[1])
            )
        )
        identifier = pulumi.Output.all(self.cluster.id, self.cluster.master_auth.cluster_ca_certificate).apply(
            lambda values: cluster_identity("gke", values[0], values[1]))
        provider = kubernetes_provider(identifier, kubeconfig, parent=self)
        self.handle = ClusterHandle(
            name=config.name,
            flavor="gke",
            kubernetes_version=config.kubernetes_version,
            node_pools=list(config.node_pools),
            kubeconfig=kubeconfig,
            provider=provider,
            cloud=GkeIdentity(project=config.project, workload_pool=self.cluster.id.apply(lambda _: config.workload_pool),
                              provider=self.gcp_provider),
            storage_class=built_in_storage_class("gke"),
            network=GcpNetwork(network_id=self.network.id, project=config.project, region=config.region),
        )
        self.register_outputs({
            "kubeconfig": kubeconfig,
            "endpoint": self.cluster.endpoint,
            "network": self.network.id,
            "nodeServiceAccount": self.node_service_account.email,
        })

    def _opts(self, depends_on: Sequence[pulumi.Resource] = (),
              ignore_changes: list[str] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.gcp_provider, depends_on=list(depends_on),
                                      ignore_changes=ignore_changes)

    def _control_plane_firewall(self, ports: tuple[int, ...]) -> gcp.compute.Firewall | None:
        """Private nodes admit the control plane only on 443 and 10250 (GKE's own rule); webhooks and aggregated
        APIs on other ports time out. Open exactly the installed services' ports, to the nodes' service account."""
        if not ports:
            return None
        config = self._config
        return gcp.compute.Firewall(
            "control-plane-webhooks",
            gcp.compute.FirewallArgs(
                name=f"{config.name}-control-plane-webhooks",
                network=self.network.id,
                description="GKE control plane to admission webhooks and aggregated API servers on the nodes",
                direction="INGRESS",
                source_ranges=[config.master_ipv4_cidr],
                target_service_accounts=[self.node_service_account.email],
                allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(port) for port in ports])],
            ),
            opts=self._opts(),
        )

    def _node_pool(self, pool: NodePool, zone_count: int,
                   role_grants: Sequence[pulumi.Resource]) -> gcp.container.NodePool:
        config = self._config
        spot = pool.capacity_type == "spot"
        return gcp.container.NodePool(
            pool.name,
            gcp.container.NodePoolArgs(
                cluster=self.cluster.id,
                location=config.region,
                name_prefix=f"{pool.name}-",
                node_locations=list(config.zones) if config.zones else None,
                initial_node_count=initial_nodes_per_zone(pool, zone_count),
                # total_*: the bounds hold for the whole pool across its zones, as minNodes/maxNodes do on EKS.
                autoscaling=gcp.container.NodePoolAutoscalingArgs(
                    total_min_node_count=pool.min_nodes,
                    total_max_node_count=pool.max_nodes,
                    # ANY: take spot capacity in whichever zone has it; BALANCED keeps on-demand spread.
                    location_policy="ANY" if spot else "BALANCED",
                ),
                management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
                upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=1,
                                                                           max_unavailable=0),
                node_config=gcp.container.NodePoolNodeConfigArgs(
                    machine_type=pool.instance_types[0],
                    disk_size_gb=pool.disk_size_gb,
                    disk_type="pd-balanced",
                    image_type="COS_CONTAINERD",
                    spot=spot,
                    labels=dict(pool.labels),
                    taints=[gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value,
                                                                      effect=GKE_TAINT_EFFECTS[t.effect])
                            for t in pool.taints],
                    service_account=self.node_service_account.email,
                    oauth_scopes=NODE_OAUTH_SCOPES,
                    workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                    shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                        enable_secure_boot=True, enable_integrity_monitoring=True),
                    metadata={"disable-legacy-endpoints": "true"},
                    resource_labels={"browser-platform-pool": pool.name},
                ),
            ),
            opts=self._opts(
                depends_on=list(role_grants),
                # The autoscaler owns the size; initial_node_count only matters at creation.
                ignore_changes=["initialNodeCount"],
            ),
        )
