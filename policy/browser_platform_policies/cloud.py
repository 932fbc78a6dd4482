"""Resource policies for the managed clusters: EKS (aws) and GKE (gcp), plus the node-pool label every provider
needs. Property names are the engine's camelCase of the SDK's argument names (pulumi_aws 7, pulumi_gcp 10)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .config import Schema, resource_policy, string_list
from .pools import (
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    GKE_CLUSTER,
    GKE_NODE_POOL,
    KIND_COMMAND,
    LAUNCH_TEMPLATE,
    eks_pool,
    gke_pool,
    is_kind_command,
    kind_pools,
)
from .props import as_int, get, items, of_types, truthy

GKE_TYPES = of_types(GKE_CLUSTER, GKE_NODE_POOL)
"""What a GKE policy can report on (`resource_policy(applies=...)`): the pack does not call it for other types."""
EKS_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def _name(args: ResourceValidationArgs) -> str:
    return f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}'"


def check_eks_endpoint(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != EKS_CLUSTER:
        return
    public = truthy(get(args.props, "vpcConfig", "endpointPublicAccess"))
    if public is False:
        return
    cidrs = [str(c) for c in items(args.props, "vpcConfig", "publicAccessCidrs")]
    if not cidrs or any(c in ("0.0.0.0/0", "::/0") for c in cidrs):
        report(f"{_name(args)}: the API endpoint is public to {', '.join(cidrs) or '0.0.0.0/0 (the default)'}. Fix: set "
               "vpcConfig.endpointPublicAccess false (with endpointPrivateAccess true) or list the operators' CIDRs "
               "in vpcConfig.publicAccessCidrs.", None)


def check_eks_encryption(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != EKS_CLUSTER:
        return
    resources = [str(r) for r in items(args.props, "encryptionConfig", "resources")]
    key = get(args.props, "encryptionConfig", "provider", "keyArn")
    if "secrets" not in resources or not key:
        report(f"{_name(args)}: Kubernetes Secrets are not envelope-encrypted with a KMS key. Fix: encryptionConfig "
               "{resources: ['secrets'], provider: {keyArn: <kms key arn>}}.", None)


def check_eks_logging(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != EKS_CLUSTER:
        return
    enabled = {str(t) for t in items(args.props, "enabledClusterLogTypes")}
    missing = [t for t in cfg["requiredLogTypes"] if t not in enabled]
    if missing:
        report(f"{_name(args)}: control-plane log types {', '.join(missing)} are off. Fix: enabledClusterLogTypes "
               f"{EKS_LOG_TYPES}.", None)


def check_eks_version(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type not in (EKS_CLUSTER, EKS_NODE_GROUP):
        return
    version = get(args.props, "version")
    supported = [str(v) for v in cfg["supportedVersions"]]
    if version is None:
        if args.resource_type == EKS_CLUSTER:
            report(f"{_name(args)}: no Kubernetes version is pinned (EKS picks its default). Fix: set version to one "
                   f"of {', '.join(supported)}.", None)
        return
    if str(version) not in supported:
        report(f"{_name(args)}: Kubernetes {version} is not in the supported list ({', '.join(supported)}). Fix: "
               "upgrade, or update supportedVersions after checking the EKS release calendar.", None)


def check_imdsv2(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type == EKS_NODE_GROUP:
        if get(args.props, "launchTemplate") is None:
            report(f"{_name(args)} uses EKS's default launch template, whose IMDS hop limit is 2: pods can reach the "
                   f"node's credentials. Fix: give the node group a launchTemplate with metadataOptions "
                   f"{{httpTokens: required, httpPutResponseHopLimit: {cfg['maxHopLimit']}}}.", None)
        return
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    if get(args.props, "metadataOptions", "httpEndpoint") == "disabled":
        return
    tokens = get(args.props, "metadataOptions", "httpTokens")
    hops = as_int(get(args.props, "metadataOptions", "httpPutResponseHopLimit"))
    if tokens != "required":
        report(f"{_name(args)}: IMDSv1 is allowed (metadataOptions.httpTokens {tokens or 'unset'}). Fix: httpTokens "
               "'required'.", None)
    if hops is None or hops > int(cfg["maxHopLimit"]):
        report(f"{_name(args)}: metadataOptions.httpPutResponseHopLimit is {hops or 'unset (2 on EKS AMIs)'}; pods can "
               f"reach the node's credentials. Fix: set it to {cfg['maxHopLimit']} and use IRSA / Pod Identity.", None)


def check_launch_template_public_ip(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    for index, interface in enumerate(items(args.props, "networkInterfaces")):
        if truthy(get(interface, "associatePublicIpAddress")):
            report(f"{_name(args)}: networkInterfaces[{index}] associates a public IP. Fix: "
                   "associatePublicIpAddress 'false'; nodes reach the internet through NAT.", None)


WORKLOAD_LABEL_SCHEMA: Schema = {
    "labelKey": {"type": "string", "default": "workload",
                 "description": "Node label key that says which workload a pool is for."},
}


def check_pool_label(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    key = str(cfg["labelKey"])
    if args.resource_type == EKS_NODE_GROUP:
        pools = [eks_pool(args.urn, args.name, args.props)]
    elif args.resource_type == GKE_NODE_POOL:
        pools = [gke_pool(args.urn, args.name, args.props)]
    elif is_kind_command(args.resource_type, args.props):
        pools = [p for p in kind_pools(args.urn, args.props) if "node-role.kubernetes.io/control-plane" not in p.labels]
    else:
        return
    for pool in pools:
        if not pool.labels.get(key):
            report(f"Node pool '{pool.name}' has no '{key}' label. Fix: label it {key}: <api|browser|...> so workloads "
                   "select it with nodeSelector.", None)


# ---------------------------------------------------------------------------------------------------------
# GKE
# ---------------------------------------------------------------------------------------------------------

def _gke_uses_default_pool(props: Any) -> bool:
    return not truthy(get(props, "removeDefaultNodePool")) and not truthy(get(props, "enableAutopilot"))


def _gke_node_configs(args: ResourceValidationArgs) -> list[Any]:
    """The node configs a GKE resource defines: a node pool's own, or a cluster's when it keeps its default pool."""
    if args.resource_type == GKE_NODE_POOL or _gke_uses_default_pool(args.props):
        return [get(args.props, "nodeConfig")]
    return []


def check_gke_private_nodes(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type == GKE_CLUSTER:
        if truthy(get(args.props, "privateClusterConfig", "enablePrivateNodes")) is not True:
            report(f"{_name(args)}: nodes get public IPs. Fix: privateClusterConfig.enablePrivateNodes true (plus "
                   "Cloud NAT for egress).", None)
    elif args.resource_type == GKE_NODE_POOL and truthy(get(args.props, "networkConfig", "enablePrivateNodes")) is False:
        report(f"{_name(args)}: networkConfig.enablePrivateNodes false gives this pool public IPs. Fix: remove it.",
               None)


def check_gke_workload_identity(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type == GKE_CLUSTER:
        if not get(args.props, "workloadIdentityConfig", "workloadPool"):
            report(f"{_name(args)}: Workload Identity is off. Fix: workloadIdentityConfig.workloadPool "
                   "'<project>.svc.id.goog'.", None)
    elif args.resource_type != GKE_NODE_POOL:
        return
    for node_config in _gke_node_configs(args):
        mode = get(node_config, "workloadMetadataConfig", "mode")
        if mode != "GKE_METADATA":
            report(f"{_name(args)}: node metadata mode is {mode or 'unset'}; pods can read the node's service account "
                   "token. Fix: nodeConfig.workloadMetadataConfig.mode 'GKE_METADATA'.", None)


def check_gke_shielded(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type == GKE_CLUSTER:
        if truthy(get(args.props, "enableShieldedNodes")) is False:
            report(f"{_name(args)}: shielded nodes are disabled. Fix: enableShieldedNodes true.", None)
    elif args.resource_type != GKE_NODE_POOL:
        return
    for node_config in _gke_node_configs(args):
        if truthy(get(node_config, "shieldedInstanceConfig", "enableIntegrityMonitoring")) is False:
            report(f"{_name(args)}: integrity monitoring is off. Fix: shieldedInstanceConfig.enableIntegrityMonitoring "
                   "true.", None)
        if cfg["requireSecureBoot"] and truthy(get(node_config, "shieldedInstanceConfig", "enableSecureBoot")) is not True:
            report(f"{_name(args)}: secure boot is off. Fix: nodeConfig.shieldedInstanceConfig.enableSecureBoot true.",
                   None)


def check_gke_release_channel(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != GKE_CLUSTER:
        return
    channel = get(args.props, "releaseChannel", "channel")
    if channel not in cfg["allowedChannels"]:
        report(f"{_name(args)}: release channel is {channel or 'unset'}. Fix: releaseChannel.channel one of "
               f"{', '.join(cfg['allowedChannels'])} so the control plane and nodes get patched.", None)


def check_gke_dataplane(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != GKE_CLUSTER:
        return
    if get(args.props, "datapathProvider") == "ADVANCED_DATAPATH":
        return
    if truthy(get(args.props, "networkPolicy", "enabled")) and \
            truthy(get(args.props, "addonsConfig", "networkPolicyConfig", "disabled")) is not True:
        return
    report(f"{_name(args)}: NetworkPolicies are not enforced. Fix: datapathProvider 'ADVANCED_DATAPATH' (Dataplane V2), "
           "or networkPolicy.enabled with the Calico add-on.", None)


def check_gke_legacy_auth(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != GKE_CLUSTER:
        return
    if truthy(get(args.props, "enableLegacyAbac")):
        report(f"{_name(args)}: legacy ABAC is on. Fix: enableLegacyAbac false (RBAC only).", None)
    if truthy(get(args.props, "masterAuth", "clientCertificateConfig", "issueClientCertificate")):
        report(f"{_name(args)}: a client certificate is issued. Fix: masterAuth.clientCertificateConfig."
               "issueClientCertificate false.", None)


def check_gke_node_management(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != GKE_NODE_POOL:
        return
    for key in ("autoRepair", "autoUpgrade"):
        if truthy(get(args.props, "management", key)) is False:
            report(f"{_name(args)}: management.{key} is off. Fix: management.{key} true.", None)


def check_gke_node_service_account(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type not in (GKE_CLUSTER, GKE_NODE_POOL):
        return
    for node_config in _gke_node_configs(args):
        account = str(get(node_config, "serviceAccount", default="") or "")
        if not account or account == "default" or account.endswith("-compute@developer.gserviceaccount.com"):
            report(f"{_name(args)}: nodes run as the Compute Engine default service account ({account or 'unset'}), "
                   "which has Editor on the project. Fix: nodeConfig.serviceAccount a dedicated least-privilege "
                   "account.", None)


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy("eks-endpoint-restricted", "The EKS API endpoint is private or limited to known CIDRs.",
                        check_eks_endpoint, remediation="endpointPublicAccess false or publicAccessCidrs.",
                        applies=of_types(EKS_CLUSTER)),
        resource_policy("eks-secrets-encryption", "EKS envelope-encrypts Secrets with a KMS key.",
                        check_eks_encryption, remediation="encryptionConfig with resources ['secrets'] and a KMS key.",
                        applies=of_types(EKS_CLUSTER)),
        resource_policy("eks-control-plane-logging", "EKS ships all five control-plane log types.",
                        check_eks_logging,
                        schema={"requiredLogTypes": string_list("Required enabledClusterLogTypes.", EKS_LOG_TYPES)},
                        remediation="enabledClusterLogTypes: api, audit, authenticator, controllerManager, scheduler.",
                        applies=of_types(EKS_CLUSTER)),
        resource_policy("eks-supported-version", "EKS clusters and node groups run a supported Kubernetes version.",
                        check_eks_version,
                        schema={"supportedVersions": string_list("Kubernetes minor versions in EKS standard support.",
                                                                 ["1.32", "1.33", "1.34", "1.35"])},
                        remediation="Upgrade to a version in supportedVersions.", applies=of_types(EKS_CLUSTER, EKS_NODE_GROUP)),
        resource_policy("eks-imdsv2-hop-limit", "Node launch templates require IMDSv2 with a hop limit of 1, and every "
                        "EKS node group uses one.",
                        check_imdsv2,
                        schema={"maxHopLimit": {"type": "integer", "minimum": 1, "default": 1,
                                                "description": "Largest allowed httpPutResponseHopLimit."}},
                        remediation="metadataOptions {httpTokens: required, httpPutResponseHopLimit: 1}.",
                        applies=of_types(EKS_NODE_GROUP, LAUNCH_TEMPLATE)),
        resource_policy("eks-launch-template-no-public-ip", "Node launch templates associate no public IP.",
                        check_launch_template_public_ip, remediation="associatePublicIpAddress 'false'.",
                        applies=of_types(LAUNCH_TEMPLATE)),
        resource_policy("node-pool-workload-label", "Every node pool (kind workers, EKS node groups, GKE node pools) is "
                        "labelled for a workload.", check_pool_label, schema=WORKLOAD_LABEL_SCHEMA,
                        remediation="Add the workload label to the pool.",
                        applies=of_types(EKS_NODE_GROUP, GKE_NODE_POOL, KIND_COMMAND)),
        resource_policy("gke-private-nodes", "GKE nodes have no public IPs.", check_gke_private_nodes,
                        remediation="privateClusterConfig.enablePrivateNodes true.", applies=GKE_TYPES),
        resource_policy("gke-workload-identity", "GKE uses Workload Identity on the cluster and GKE_METADATA on pools.",
                        check_gke_workload_identity,
                        remediation="workloadIdentityConfig.workloadPool; workloadMetadataConfig.mode GKE_METADATA.",
                        applies=GKE_TYPES),
        resource_policy("gke-shielded-nodes", "GKE nodes are shielded (integrity monitoring, secure boot).",
                        check_gke_shielded,
                        schema={"requireSecureBoot": {"type": "boolean", "default": True,
                                                      "description": "Require shieldedInstanceConfig.enableSecureBoot."}},
                        remediation="enableShieldedNodes; shieldedInstanceConfig.enableSecureBoot true.", applies=GKE_TYPES),
        resource_policy("gke-release-channel", "GKE clusters are enrolled in a release channel.",
                        check_gke_release_channel,
                        schema={"allowedChannels": string_list("Accepted channels.", ["RAPID", "REGULAR", "STABLE"])},
                        remediation="releaseChannel.channel REGULAR or STABLE.", applies=of_types(GKE_CLUSTER)),
        resource_policy("gke-dataplane-v2", "GKE enforces NetworkPolicies (Dataplane V2 or Calico).",
                        check_gke_dataplane, remediation="datapathProvider ADVANCED_DATAPATH.", applies=of_types(GKE_CLUSTER)),
        resource_policy("gke-no-legacy-auth", "GKE has legacy ABAC and client certificates off.",
                        check_gke_legacy_auth, remediation="enableLegacyAbac false; issueClientCertificate false.",
                        applies=of_types(GKE_CLUSTER)),
        resource_policy("gke-node-auto-repair-upgrade", "GKE node pools auto-repair and auto-upgrade.",
                        check_gke_node_management, remediation="management {autoRepair: true, autoUpgrade: true}.",
                        applies=of_types(GKE_NODE_POOL)),
        resource_policy("gke-node-service-account", "GKE nodes run as a dedicated service account, not the default one.",
                        check_gke_node_service_account, remediation="nodeConfig.serviceAccount <dedicated account>.",
                        applies=GKE_TYPES),
    ]
