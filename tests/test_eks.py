"""The EKS stack (Pulumi.prod.yaml) as the engine would receive it: cluster, network, IAM, nodes, add-ons."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.clusters.handle import cluster_identity
from components.clusters.node_autoscaler import RELEASES
from offline.harness import RecordedResource, StackEvaluation, is_secret, unwrap_secrets
from offline.harness import stack_file_config as _stack_file_config

STACK = "prod"
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def stack_cluster_config() -> dict[str, Any]:
    config, _ = _stack_file_config(STACK)
    return json.loads(config["browser-platform:cluster"])


@pytest.fixture(scope="module")
def prod(evaluated: Callable[[str], StackEvaluation]) -> StackEvaluation:
    return evaluated(STACK)


def node_group(prod: StackEvaluation, pool: str) -> RecordedResource:
    return prod.named(NODE_GROUP, pool)


def role_policies(prod: StackEvaluation, role_name: str) -> set[str]:
    role = prod.named(ROLE, role_name)
    role_ref = role.outputs["name"]
    return {a.inputs["policyArn"] for a in prod.of_type(ATTACHMENT) if a.inputs["role"] == role_ref}


def test_node_groups_carry_pool_labels_translated_taints_and_scaling(prod: StackEvaluation) -> None:
    api, browser = node_group(prod, "api").inputs, node_group(prod, "browser").inputs
    base = node_group(prod, "browser-base").inputs
    assert api["labels"] == {"workload": "api"} and api["taints"] == []
    assert browser["labels"] == base["labels"] == {"workload": "browser"}
    assert browser["taints"] == base["taints"] == [{"key": "workload", "value": "browser", "effect": "NO_SCHEDULE"}]
    assert api["scalingConfig"] == {"minSize": 3.0, "maxSize": 6.0, "desiredSize": 3.0}
    # minSessions 50 = 5 pods at 3 per c7i.2xlarge: a fixed on-demand base of 2 nodes (6 pods); the spot burst
    # holds the other 54 of maxSessions 600 / 10 = 60 pods on 0-18 nodes.
    assert base["scalingConfig"] == {"minSize": 2.0, "maxSize": 2.0, "desiredSize": 2.0}
    assert browser["scalingConfig"] == {"minSize": 0.0, "maxSize": 18.0, "desiredSize": 1.0}
    assert api["capacityType"] == "ON_DEMAND" and base["capacityType"] == "ON_DEMAND"
    assert browser["capacityType"] == "SPOT"
    # Several types per group only of one shape (8 vCPU / 16 GiB): the autoscaler plans with one of them.
    assert browser["instanceTypes"] == base["instanceTypes"] == ["c7i.2xlarge", "c6i.2xlarge"]
    assert {api["amiType"], browser["amiType"]} == {"AL2023_x86_64_STANDARD"}
    for pool in ("api", "browser-base", "browser"):
        assert node_group(prod, pool).options["ignoreChanges"] == ["scalingConfig.desiredSize"]


def test_nodes_run_only_in_private_subnets_across_three_looked_up_zones(prod: StackEvaluation) -> None:
    subnets = {s.name: s for s in prod.of_type("aws:ec2/subnet:Subnet")}
    private = {n: s for n, s in subnets.items() if n.startswith("private-")}
    public = {n: s for n, s in subnets.items() if n.startswith("public-")}
    assert len(private) == 3 and len(public) == 3
    # The zones come from the getAvailabilityZones fake (which lists them out of order), not from the code.
    assert sorted(s.inputs["availabilityZone"] for s in private.values()) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    cluster_tag = "kubernetes.io/cluster/browser-platform-prod"
    for subnet in private.values():
        assert subnet.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1"
        assert subnet.inputs["tags"][cluster_tag] == "owned"
    for subnet in public.values():
        assert subnet.inputs["tags"]["kubernetes.io/role/elb"] == "1"
        assert subnet.inputs["tags"][cluster_tag] == "owned"
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    private_ids = sorted(f"{name}-id" for name in private)
    for pool in ("api", "browser"):
        assert sorted(node_group(prod, pool).inputs["subnetIds"]) == private_ids
    assert sorted(prod.named(CLUSTER, "eks").inputs["vpcConfig"]["subnetIds"]) == private_ids


def test_each_private_subnet_leaves_through_a_nat_gateway_in_its_own_zone(prod: StackEvaluation) -> None:
    nats = prod.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    assert {n.inputs["subnetId"] for n in nats} == {"public-a-id", "public-b-id", "public-c-id"}
    for letter in "abc":
        routes = prod.named("aws:ec2/routeTable:RouteTable", f"private-{letter}").inputs["routes"]
        assert routes == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": f"nat-{letter}-id"}]


def test_secrets_are_envelope_encrypted_with_a_rotating_kms_key(prod: StackEvaluation) -> None:
    key = prod.named("aws:kms/key:Key", "secrets")
    assert key.inputs["enableKeyRotation"] is True
    encryption = prod.named(CLUSTER, "eks").inputs["encryptionConfig"]
    assert encryption == {"resources": ["secrets"], "provider": {"keyArn": key.outputs["arn"]}}


def test_control_plane_settings(prod: StackEvaluation) -> None:
    cluster = prod.named(CLUSTER, "eks").inputs
    assert cluster["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert cluster["version"] == "1.35"
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    assert cluster["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    vpc = cluster["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == stack_cluster_config()["publicAccessCidrs"]
    assert "0.0.0.0/0" not in vpc["publicAccessCidrs"]
    log_group = prod.named("aws:cloudwatch/logGroup:LogGroup", "control-plane")
    assert log_group.inputs["name"] == "/aws/eks/browser-platform-prod/cluster"
    assert log_group.urn in prod.named(CLUSTER, "eks").dependencies


def test_admin_principal_gets_cluster_admin_through_an_access_entry(prod: StackEvaluation) -> None:
    admin = stack_cluster_config()["adminPrincipalArn"]
    entry = prod.named("aws:eks/accessEntry:AccessEntry", "admin")
    association = prod.named("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "admin")
    assert entry.inputs["principalArn"] == admin and entry.inputs["type"] == "STANDARD"
    assert association.inputs["principalArn"] == admin
    assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert association.inputs["accessScope"] == {"type": "cluster"}
    assert entry.urn in association.dependencies


def test_launch_templates_enforce_imdsv2_hop_limit_one_and_encrypted_gp3(prod: StackEvaluation) -> None:
    for pool, disk in (("api", 100.0), ("browser", 100.0)):
        template = prod.named("aws:ec2/launchTemplate:LaunchTemplate", f"{pool}-nodes")
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required"
        assert metadata["httpPutResponseHopLimit"] == 1.0
        [device] = template.inputs["blockDeviceMappings"]
        assert device["ebs"]["encrypted"] == "true"
        assert device["ebs"]["volumeType"] == "gp3"
        assert device["ebs"]["volumeSize"] == disk
        assert node_group(prod, pool).inputs["launchTemplate"] == {"id": f"{pool}-nodes-id", "version": "1"}
        # With a launch template, the disk is set there; EKS rejects disk_size alongside it.
        assert "diskSize" not in node_group(prod, pool).inputs


def test_roles_hold_only_the_managed_policies_they_need(prod: StackEvaluation) -> None:
    arn = "arn:aws:iam::aws:policy/"
    assert role_policies(prod, "cluster") == {arn + "AmazonEKSClusterPolicy"}
    assert role_policies(prod, "node") == {arn + p for p in ("AmazonEKSWorkerNodePolicy",
                                                             "AmazonEC2ContainerRegistryPullOnly",
                                                             "AmazonEKS_CNI_Policy")}
    assert role_policies(prod, "ebs-csi") == {arn + "service-role/AmazonEBSCSIDriverPolicy"}
    trust = json.loads(prod.named(ROLE, "node").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_managed_addons_with_network_policy_and_ebs_pod_identity(prod: StackEvaluation) -> None:
    addons = {a.inputs["addonName"]: a for a in prod.of_type(ADDON)}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    association = prod.named("aws:eks/podIdentityAssociation:PodIdentityAssociation", "ebs-csi")
    assert association.inputs["serviceAccount"] == "ebs-csi-controller-sa"
    assert association.inputs["namespace"] == "kube-system"
    assert association.inputs["roleArn"] == prod.named(ROLE, "ebs-csi").outputs["arn"]
    groups = {node_group(prod, p).urn for p in ("api", "browser")}
    # Nodes wait for the networking add-ons; Deployment-based add-ons wait for nodes.
    for name in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert all(addons[name].urn in node_group(prod, p).dependencies for p in ("api", "browser"))
    for name in ("coredns", "aws-ebs-csi-driver"):
        assert groups <= set(addons[name].dependencies)


def test_pools_scale_from_zero_through_autoscaler_tags(prod: StackEvaluation) -> None:
    tags = node_group(prod, "browser").inputs["tags"]
    assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert tags["k8s.io/cluster-autoscaler/browser-platform-prod"] == "owned"
    assert tags["k8s.io/cluster-autoscaler/node-template/label/workload"] == "browser"
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/workload"] == "browser:NoSchedule"
    asg_tags = {(t.inputs["autoscalingGroupName"], t.inputs["tag"]["key"], t.inputs["tag"]["value"])
                for t in prod.of_type("aws:autoscaling/tag:Tag")}
    asg = node_group(prod, "browser").outputs["resources"][0]["autoscalingGroups"][0]["name"]
    assert (asg, "k8s.io/cluster-autoscaler/node-template/taint/workload", "browser:NoSchedule") in asg_tags
    assert (asg, "k8s.io/cluster-autoscaler/node-template/label/workload", "browser") in asg_tags


def test_cluster_autoscaler_is_pinned_to_the_cluster_minor_with_least_privilege(prod: StackEvaluation) -> None:
    release = prod.named("kubernetes:helm.sh/v3:Release", "cluster-autoscaler")
    chart_version, image_tag = RELEASES["1.35"]
    assert release.inputs["chart"] == "cluster-autoscaler"
    assert release.inputs["repositoryOpts"] == {"repo": "https://kubernetes.github.io/autoscaler"}
    assert release.inputs["version"] == chart_version
    values = release.inputs["values"]
    assert values["image"]["tag"] == image_tag and image_tag.startswith("v1.35.")
    assert values["autoDiscovery"] == {"clusterName": "browser-platform-prod"}
    assert values["awsRegion"] == "us-east-1"
    assert values["nodeSelector"] == {"workload": "api"}  # on-demand pool, never spot
    association = prod.named("aws:eks/podIdentityAssociation:PodIdentityAssociation", "cluster-autoscaler")
    assert association.inputs["serviceAccount"] == values["rbac"]["serviceAccount"]["name"]
    assert association.urn in release.dependencies
    assert {node_group(prod, p).urn for p in ("api", "browser")} <= set(release.dependencies)
    policy = json.loads(prod.named("aws:iam/rolePolicy:RolePolicy", "cluster-autoscaler").inputs["policy"])
    writes = [s for s in policy["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert len(writes) == 1
    assert writes[0]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/browser-platform-prod": "owned"}}
    for statement in policy["Statement"]:
        for action in statement["Action"]:
            assert action.split(":")[1].startswith(("Describe", "Get")) or statement is writes[0], action
    assert "*" not in json.dumps([s["Action"] for s in policy["Statement"]])


def test_kubeconfig_output_is_secret_and_uses_aws_eks_get_token(prod: StackEvaluation) -> None:
    output = prod.outputs["kubeconfig"]
    assert is_secret(output)
    document = yaml.safe_load(unwrap_secrets(output))
    [user] = document["users"]
    assert "token" not in user["user"] and "client-key-data" not in user["user"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:2] == ["eks", "get-token"]
    assert exec_["args"][exec_["args"].index("--cluster-name") + 1] == "browser-platform-prod"
    assert exec_["args"][exec_["args"].index("--region") + 1] == "us-east-1"
    [cluster] = document["clusters"]
    eks = prod.named(CLUSTER, "eks")
    assert cluster["cluster"]["server"] == eks.outputs["endpoint"]
    assert cluster["cluster"]["certificate-authority-data"] == eks.outputs["certificateAuthority"]["data"]


def test_every_kubernetes_object_goes_through_the_eks_provider(prod: StackEvaluation) -> None:
    [provider] = prod.of_type("pulumi:providers:kubernetes")
    eks = prod.named(CLUSTER, "eks")
    # The identifier is the cluster's own (ARN + CA), recorded as depending on the cluster resource.
    assert provider.inputs["clusterIdentifier"] == cluster_identity(
        "eks", eks.outputs["arn"], eks.outputs["certificateAuthority"]["data"])
    assert provider.property_dependencies["clusterIdentifier"] == [eks.urn]
    assert is_secret(provider.inputs["kubeconfig"])
    for resource in prod.resources:
        if resource.custom and resource.type.startswith("kubernetes:"):
            assert resource.provider.startswith(provider.urn), resource.urn
    aws_providers = prod.of_type("pulumi:providers:aws")
    assert len(aws_providers) == 1 and aws_providers[0].inputs["region"] == "us-east-1"
    for resource in prod.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.provider.startswith(aws_providers[0].urn), resource.urn
