"""The GKE stack (Pulumi.prod-gcp.yaml) as the engine would receive it: network, cluster, node pools, identity."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from components.clusters.gke import NODE_SERVICE_ACCOUNT_ROLES
from offline.harness import RecordedResource, StackEvaluation, is_secret, unwrap_secrets

STACK = "prod-gcp"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"


@pytest.fixture(scope="module")
def gke(evaluated: Callable[[str], StackEvaluation]) -> StackEvaluation:
    return evaluated(STACK)


def pool(gke: StackEvaluation, name: str) -> RecordedResource:
    return gke.named(NODE_POOL, name)


def test_vpc_native_network_with_secondary_ranges_and_nat(gke: StackEvaluation) -> None:
    network = gke.named("gcp:compute/network:Network", "vpc")
    assert network.inputs["autoCreateSubnetworks"] is False
    subnet = gke.named("gcp:compute/subnetwork:Subnetwork", "nodes").inputs
    assert subnet["privateIpGoogleAccess"] is True
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]}
    assert ranges == {"pods": "10.16.0.0/14", "services": "10.20.0.0/20"}
    policy = gke.named(CLUSTER, "gke").inputs["ipAllocationPolicy"]
    assert policy == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    router = gke.named("gcp:compute/router:Router", "nat")
    nat = gke.named("gcp:compute/routerNat:RouterNat", "nat")
    assert nat.inputs["router"] == router.inputs["name"]
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"


def test_cluster_is_private_hardened_and_uses_dataplane_v2(gke: StackEvaluation) -> None:
    cluster = gke.named(CLUSTER, "gke").inputs
    assert cluster["removeDefaultNodePool"] is True and cluster["initialNodeCount"] == 1.0
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"
    assert "networkPolicy" not in cluster  # Calico and Dataplane V2 are exclusive
    assert cluster["workloadIdentityConfig"] == {"workloadPool": "browser-platform-prod.svc.id.goog"}
    private = cluster["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True
    assert private["masterIpv4CidrBlock"] == "172.16.0.0/28"
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [
        {"cidrBlock": "203.0.113.0/24", "displayName": "ci-and-vpn"}]
    assert cluster["enableShieldedNodes"] is True
    assert cluster["enableLegacyAbac"] is False
    assert cluster["masterAuth"]["clientCertificateConfig"] == {"issueClientCertificate": False}
    assert {"SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER"} <= set(cluster["loggingConfig"]["enableComponents"])
    assert "SYSTEM_COMPONENTS" in cluster["monitoringConfig"]["enableComponents"]
    assert cluster["releaseChannel"] == {"channel": "REGULAR"}
    assert cluster["deletionProtection"] is True
    assert cluster["minMasterVersion"] == "1.35"


def test_node_pools_translate_labels_taints_capacity_and_bounds(gke: StackEvaluation) -> None:
    api, browser = pool(gke, "api").inputs, pool(gke, "browser").inputs
    assert api["nodeConfig"]["labels"] == {"workload": "api"}
    assert api["nodeConfig"].get("taints", []) == []
    assert browser["nodeConfig"]["labels"] == {"workload": "browser"}
    assert browser["nodeConfig"]["taints"] == [{"key": "workload", "value": "browser", "effect": "NO_SCHEDULE"}]
    assert browser["nodeConfig"]["spot"] is True and api["nodeConfig"]["spot"] is False
    assert api["nodeConfig"]["machineType"] == "n2-standard-4"
    assert browser["nodeConfig"]["machineType"] == "c3-standard-8"
    assert api["autoscaling"]["totalMinNodeCount"] == 3.0 and api["autoscaling"]["totalMaxNodeCount"] == 6.0
    # minSessions 50 = 5 pods at 3 per c3-standard-8 need 2 nodes; a GKE pool starts with the same count in each
    # of its 3 zones, so the fixed on-demand base is 3 nodes (1 per zone, 9 pods); the spot burst holds the other
    # 51 of 60 pods on 0-17 nodes. Browser pods prefer the base (components/workloads/group.py).
    base = pool(gke, "browser-base").inputs
    assert base["nodeConfig"]["spot"] is False and base["nodeConfig"]["labels"] == {"workload": "browser"}
    assert base["autoscaling"]["totalMinNodeCount"] == 3.0 and base["autoscaling"]["totalMaxNodeCount"] == 3.0
    assert base["initialNodeCount"] == 1.0
    assert browser["autoscaling"]["totalMinNodeCount"] == 0.0 and browser["autoscaling"]["totalMaxNodeCount"] == 17.0
    assert "minNodeCount" not in browser["autoscaling"]
    # initialNodeCount is per zone: 1 node over the region's default 3 zones.
    assert browser["initialNodeCount"] == 1.0
    for name in ("api", "browser-base", "browser"):
        inputs = pool(gke, name).inputs
        assert inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
        assert inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert inputs["nodeConfig"]["shieldedInstanceConfig"] == {"enableSecureBoot": True,
                                                                 "enableIntegrityMonitoring": True}
        assert pool(gke, name).options["ignoreChanges"] == ["initialNodeCount"]


def test_nodes_run_as_a_dedicated_least_privilege_service_account(gke: StackEvaluation) -> None:
    account = gke.named("gcp:serviceaccount/account:Account", "nodes")
    email = account.outputs["email"]
    assert not email.endswith("-compute@developer.gserviceaccount.com")
    for name in ("api", "browser"):
        assert pool(gke, name).inputs["nodeConfig"]["serviceAccount"] == email
    assert gke.named(CLUSTER, "gke").inputs["nodeConfig"]["serviceAccount"] == email
    grants = [g for g in gke.of_type("gcp:projects/iAMMember:IAMMember") if g.inputs["member"] == account.outputs["member"]]
    assert sorted(g.inputs["role"] for g in grants) == sorted(NODE_SERVICE_ACCOUNT_ROLES)
    assert {g.inputs["member"] for g in grants} == {f"serviceAccount:{email}"}
    assert {g.inputs["project"] for g in grants} == {"browser-platform-prod"}


def test_kubeconfig_output_is_secret_and_uses_gke_gcloud_auth_plugin(gke: StackEvaluation) -> None:
    output = gke.outputs["kubeconfig"]
    assert is_secret(output)
    document = yaml.safe_load(unwrap_secrets(output))
    [user] = document["users"]
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["provideClusterInfo"] is True
    cluster = gke.named(CLUSTER, "gke")
    assert document["clusters"][0]["cluster"]["server"] == f"https://{cluster.outputs['endpoint']}"
    assert document["clusters"][0]["cluster"]["certificate-authority-data"] == \
        cluster.outputs["masterAuth"]["clusterCaCertificate"]


def test_no_in_cluster_autoscaler_on_gke(gke: StackEvaluation) -> None:
    releases = {r.name for r in gke.of_type("kubernetes:helm.sh/v3:Release")}
    assert "cluster-autoscaler" not in releases  # GKE's own autoscaler sizes the pools
    [provider] = gke.of_type("pulumi:providers:gcp")
    assert provider.inputs["project"] == "browser-platform-prod" and provider.inputs["region"] == "europe-west1"
    for resource in gke.resources:
        if resource.custom and resource.type.startswith("gcp:"):
            assert resource.provider.startswith(provider.urn), resource.urn
