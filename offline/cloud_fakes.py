"""What AWS and Google Cloud would compute for the resources and data sources of the EKS and GKE clusters.

Only values a provider computes are faked here (ARNs, endpoints, certificates, generated names, data-source
results); every input is echoed back by the harness as a real provider does. Property names are the engine's
camelCase. Imported by offline.harness, which registers nothing of its own for clouds.
"""

from __future__ import annotations

import base64
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from .harness import CALL_FAKES, RESOURCE_OUTPUT_FAKES

FAKE_ACCOUNT = "123456789012"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nOFFLINE\n-----END CERTIFICATE-----\n").decode()


def _region(args: pulumi_mocks.MockResourceArgs) -> str:
    return str(args.inputs.get("region") or "us-east-1")


def _arn(service: str, args: pulumi_mocks.MockResourceArgs, resource: str, region: bool = True) -> str:
    return f"arn:aws:{service}:{_region(args) if region else ''}:{FAKE_ACCOUNT}:{resource}"


def _eks_cluster(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("name") or args.name
    return {
        "arn": _arn("eks", args, f"cluster/{name}"),
        "endpoint": f"https://0123456789ABCDEF.gr7.{_region(args)}.eks.amazonaws.com",
        "certificateAuthority": {"data": FAKE_CA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{_region(args)}.amazonaws.com/id/0123456789ABCDEF"}]}],
        "platformVersion": "eks.1",
        "status": "ACTIVE",
        "version": args.inputs.get("version", "1.35"),
        "clusterId": "00000000-0000-0000-0000-000000000000",
        # EKS creates this group and attaches it to managed nodes (the data stores admit it).
        "vpcConfig": {**(args.inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": "sg-0cluster000000000",
                      "vpcId": "vpc-offline"},
    }


def _node_group(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    cluster = args.inputs.get("clusterName", "cluster")
    name = f"{args.inputs.get('nodeGroupNamePrefix', args.name)}20260101000000"
    return {
        "arn": _arn("eks", args, f"nodegroup/{cluster}/{name}/0"),
        "nodeGroupName": name,
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{name}-0000"}], "remoteAccessSecurityGroupId": ""}],
    }


RESOURCE_OUTPUT_FAKES.update({
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:eks/addon:Addon": lambda a: {
        "arn": _arn("eks", a, f"addon/{a.inputs.get('clusterName')}/{a.inputs.get('addonName')}/0"),
        "addonVersion": "v0.0.0-eksbuild.1",
    },
    "aws:eks/accessEntry:AccessEntry": lambda a: {"accessEntryArn": _arn("eks", a, "access-entry/0")},
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": lambda a: {
        "associationArn": _arn("eks", a, "podidentityassociation/0"), "associationId": "a-0"},
    "aws:iam/role:Role": lambda a: {"arn": f"arn:aws:iam::{FAKE_ACCOUNT}:role/{a.name}-0000",
                                    "name": f"{a.name}-0000", "uniqueId": "AROA0000"},
    "aws:kms/key:Key": lambda a: {"arn": _arn("kms", a, "key/0000-key"), "keyId": "0000-key"},
    "aws:cloudwatch/logGroup:LogGroup": lambda a: {"arn": _arn("logs", a, f"log-group:{a.inputs.get('name')}")},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda a: {"latestVersion": 1, "defaultVersion": 1,
                                                        "arn": _arn("ec2", a, f"launch-template/lt-{a.name}")},
    "aws:ec2/eip:Eip": lambda a: {"allocationId": f"eipalloc-{a.name}", "publicIp": "198.51.100.10"},
    "aws:ec2/vpc:Vpc": lambda a: {"arn": _arn("ec2", a, f"vpc/vpc-{a.name}")},
    "gcp:container/cluster:Cluster": lambda a: {
        "endpoint": "203.0.113.10",
        "masterAuth": {**(a.inputs.get("masterAuth") or {}), "clusterCaCertificate": FAKE_CA},
        "selfLink": f"https://container.googleapis.com/v1/projects/offline/locations/{a.inputs.get('location')}/clusters/{a.inputs.get('name')}",
        "masterVersion": f"{a.inputs.get('minMasterVersion', '1.35')}.0-gke.1",
    },
    "gcp:container/nodePool:NodePool": lambda a: {"name": f"{a.inputs.get('namePrefix', a.name)}0000",
                                                  "instanceGroupUrls": []},
    "gcp:serviceaccount/account:Account": lambda a: {
        "email": f"{a.inputs.get('accountId')}@offline-project.iam.gserviceaccount.com",
        "member": f"serviceAccount:{a.inputs.get('accountId')}@offline-project.iam.gserviceaccount.com",
        "name": f"projects/offline-project/serviceAccounts/{a.inputs.get('accountId')}@offline-project.iam.gserviceaccount.com",
        "uniqueId": "100000000000000000000",
    },
    "gcp:compute/network:Network": lambda a: {"selfLink": f"https://www.googleapis.com/compute/v1/projects/offline/global/networks/{a.inputs.get('name')}"},
    "gcp:compute/subnetwork:Subnetwork": lambda a: {"selfLink": f"https://www.googleapis.com/compute/v1/projects/offline/regions/{a.inputs.get('region')}/subnetworks/{a.inputs.get('name')}"},
})


def _availability_zones(args: dict[str, Any]) -> dict[str, Any]:
    region = args.get("region") or "us-east-1"
    letters = "abcdef"
    # Returned out of order on purpose: the program must not depend on the API's ordering.
    names = [f"{region}{letter}" for letter in reversed(letters)]
    return {
        "id": region,
        "names": names,
        "zoneIds": [f"use1-az{i}" for i in range(1, len(names) + 1)],
        "groupNames": [region] * len(names),
        "state": args.get("state"),
        "filters": args.get("filters"),
    }


def _addon_version(args: dict[str, Any]) -> dict[str, Any]:
    # Made-up versions that follow the Kubernetes minor asked for (as real add-on versions do), so a test can
    # see that a kubernetesVersion bump moves every add-on.
    minor = str(args.get("kubernetesVersion"))
    return {"id": args.get("addonName"), "addonName": args.get("addonName"), "kubernetesVersion": minor,
            "mostRecent": args.get("mostRecent"), "version": f"v{minor}.0-eksbuild.1"}


def _ssm_parameter(args: dict[str, Any]) -> dict[str, Any]:
    name = str(args.get("name"))
    prefix = "/aws/service/eks/optimized-ami/"
    if not name.startswith(prefix) or not name.endswith("/release_version"):
        raise NotImplementedError(f"no offline fake for SSM parameter {name}")
    minor = name[len(prefix):].split("/", 1)[0]
    # The shape AWS publishes: <kubernetes version>-<build date>.
    return {"id": name, "name": name, "arn": f"arn:aws:ssm:us-east-1::parameter{name}", "type": "String",
            "value": f"{minor}.0-20260101", "version": 1, "insecureValue": f"{minor}.0-20260101"}


CALL_FAKES.update({
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:eks/getAddonVersion:getAddonVersion": _addon_version,
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
})


# Data stores (components/data): the endpoints the providers compute.
def _valkey_endpoints(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    network = ((args.inputs.get("desiredAutoCreatedEndpoints") or [{}])[0]).get("network", "")
    return {"endpoints": [{"connections": [
        {"pscAutoConnection": {"connectionType": kind, "ipAddress": address, "port": 6379, "network": network}}
        for kind, address in (("CONNECTION_TYPE_DISCOVERY", "10.31.0.2"), ("CONNECTION_TYPE_PRIMARY", "10.31.0.3"))
    ]}]}


RESOURCE_OUTPUT_FAKES.update({
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda a: {
        "arn": _arn("elasticache", a, f"replicationgroup:{a.inputs.get('replicationGroupId')}"),
        "configurationEndpointAddress": f"clustercfg.{a.inputs.get('replicationGroupId')}.abc123.use1.cache.amazonaws.com",
        # In cluster mode each node is a member cache cluster named <group>-<shard 0001..>-<node 001..>.
        "memberClusters": [f"{a.inputs.get('replicationGroupId')}-{shard:04d}-{node:03d}"
                           for shard in range(1, int(a.inputs.get("numNodeGroups") or 1) + 1)
                           for node in range(1, int(a.inputs.get("replicasPerNodeGroup") or 0) + 2)],
    },
    "aws:rds/instance:Instance": lambda a: {
        "arn": _arn("rds", a, f"db:{a.inputs.get('identifier')}"),
        "address": f"{a.inputs.get('identifier')}.c0ffee000000.us-east-1.rds.amazonaws.com",
        "identifier": a.inputs.get("identifier"),
    },
    "aws:rds/parameterGroup:ParameterGroup": lambda a: {"name": f"{a.inputs.get('namePrefix', a.name)}0000"},
    "aws:sns/topic:Topic": lambda a: {"arn": _arn("sns", a, str(a.inputs.get("name") or a.name))},
    "gcp:memorystore/instance:Instance": _valkey_endpoints,
    "gcp:sql/databaseInstance:DatabaseInstance": lambda a: {
        "privateIpAddress": "10.30.0.{}".format(3 + int(str(a.name).rsplit("-", 1)[-1]) if a.name[-1].isdigit() else 3),
        "connectionName": f"offline:{a.inputs.get('region')}:{a.inputs.get('name')}",
    },
})
