"""Policies for what a cluster does after `pulumi up`: replacement, refresh, version bumps, encryption at runtime.

None of these is visible in a schema: each guards a setting that is accepted on create and only goes wrong on a
later run (a replaced cluster the Kubernetes provider does not notice, a refresh that asks to replace a
protected GKE cluster, add-ons and AMIs left behind by a Kubernetes upgrade, a control plane that cannot use
its own secrets key).

Resource policies here read inputs (`Analyze`); stack policies read the final outputs (`AnalyzeStack`) and
link resources through their recorded dependencies, which are known even while values are not.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .config import per_resource, resource_policy, stack_policy, string_list
from .existing_cluster import EXISTING_CLUSTER
from .pools import EKS_ADDON, EKS_CLUSTER, EKS_NODE_GROUP, GKE_CLUSTER, is_kind_command
from .props import get, of_types, plain, truthy

K8S_PROVIDER = "pulumi:providers:kubernetes"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SECRETS_KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]


def _name(args: ResourceValidationArgs) -> str:
    return f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}'"


# ---------------------------------------------------------------------------------------------------------
# The Kubernetes provider knows when its cluster is replaced
# ---------------------------------------------------------------------------------------------------------

def _reaches_cluster(start: Iterable[PolicyResource], cluster_types: set[str]) -> bool:
    """Whether a cluster resource is among `start` or what they (transitively) depend on."""
    seen: set[str] = set()
    queue = list(start)
    while queue:
        resource = queue.pop()
        if resource.urn in seen:
            continue
        seen.add(resource.urn)
        if resource.resource_type in cluster_types or is_kind_command(resource.resource_type, resource.props):
            return True
        queue.extend(resource.dependencies or [])
        for deps in (resource.property_dependencies or {}).values():
            queue.extend(deps)
    return False


def check_cluster_identifier(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    cluster_types = {str(t) for t in cfg["clusterTypes"]}
    for provider in args.resources:
        if provider.resource_type != K8S_PROVIDER:
            continue
        if provider.parent is not None and provider.parent.resource_type == EXISTING_CLUSTER:
            continue  # no cluster resource to derive it from: existing-cluster-identity checks this provider
        with per_resource("kubernetes-provider-cluster-identity", provider.urn):
            sources = (provider.property_dependencies or {}).get("clusterIdentifier") or []
            if _reaches_cluster(sources, cluster_types):
                continue  # known from the recorded dependencies, even while the value itself is not
            if "clusterIdentifier" not in provider.props or get(provider.props, "clusterIdentifier") in (None, ""):
                report(f"Kubernetes provider '{provider.name}' has no clusterIdentifier: any change of the "
                       "kubeconfig's server or CA replaces every object, and nothing else tells it the cluster was "
                       "replaced. Fix: cluster_identifier = an output of the cluster resource (e.g. its ARN or id "
                       "plus a hash of its CA).", provider.urn)
            else:
                report(f"Kubernetes provider '{provider.name}' has a clusterIdentifier that is not derived from a "
                       "cluster resource (a constant, or an output of something else): when the cluster is replaced "
                       "the provider is only updated and `pulumi up` succeeds against an empty cluster. Fix: derive "
                       "cluster_identifier from the cluster's own outputs (EKS ARN + CA, GKE id + CA, kind CA).",
                       provider.urn)


# ---------------------------------------------------------------------------------------------------------
# GKE: the default pool's nodeConfig after removeDefaultNodePool
# ---------------------------------------------------------------------------------------------------------

def check_gke_default_pool_config(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != GKE_CLUSTER:
        return
    if truthy(get(args.props, "removeDefaultNodePool")) is not True or "nodeConfig" not in args.props:
        return
    if get(args.props, "nodeConfig") is None:
        return
    ignored = {str(path) for path in (args.opts.ignore_changes or [])}
    if not ignored & {"nodeConfig", "node_config"}:
        report(f"{_name(args)} removes its default node pool but sets nodeConfig without ignoring its changes: GKE "
               "refills nodeConfig from another pool, so every refresh diffs and plans a replacement of the cluster "
               "(which deletion protection then blocks). Fix: ignore_changes=['nodeConfig'] (the setting only "
               "shapes the short-lived default pool), or drop nodeConfig.", None)


# ---------------------------------------------------------------------------------------------------------
# EKS: versions that follow kubernetesVersion
# ---------------------------------------------------------------------------------------------------------

def check_eks_versions_pinned(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type == EKS_ADDON:
        if not get(args.props, "addonVersion"):
            report(f"{_name(args)} ({get(args.props, 'addonName') or '?'}) has no addonVersion: EKS installs the "
                   "default once and never moves it, so after a kubernetesVersion bump it stays on the old minor. "
                   "Fix: addon_version from aws.eks.get_addon_version(kubernetes_version=<cluster minor>, "
                   "most_recent=True).", None)
    elif args.resource_type == EKS_NODE_GROUP:
        if str(get(args.props, "amiType", default="")).upper() == "CUSTOM":
            return  # the launch template names the image; EKS rejects releaseVersion then
        missing = [key for key in ("version", "releaseVersion") if not get(args.props, key)]
        if missing:
            report(f"{_name(args)} sets no {' and no '.join(missing)}: its nodes keep the Kubernetes version and AMI "
                   "they were first created with, whatever kubernetesVersion says. Fix: version = the cluster's "
                   "version, release_version from the SSM parameter /aws/service/eks/optimized-ami/<minor>/"
                   "amazon-linux-2023/x86_64/standard/recommended/release_version.", None)


# ---------------------------------------------------------------------------------------------------------
# EKS: the cluster role may use its secrets key
# ---------------------------------------------------------------------------------------------------------

def _document(value: Any) -> dict[str, Any]:
    value = plain(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def granted_actions(document: Mapping[str, Any], key_arn: str) -> set[str]:
    """The required KMS actions a policy document allows on `key_arn` (wildcards honoured, no Deny logic)."""
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    granted: set[str] = set()
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(key_arn, pattern) for pattern in _as_list(statement.get("Resource"))):
            continue
        for action in SECRETS_KEY_ACTIONS:
            if any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _as_list(statement.get("Action"))):
                granted.add(action)
    return granted


def _linked(resource: PolicyResource, prop: str, candidates: list[PolicyResource], value_key: str) -> list[PolicyResource]:
    """Candidates `resource.<prop>` refers to: through the recorded property dependency, else by value."""
    urns = {d.urn for d in (resource.property_dependencies or {}).get(prop) or []}
    linked = [c for c in candidates if c.urn in urns]
    if linked:
        return linked
    value = get(resource.props, prop)
    return [c for c in candidates if value is not None and get(c.props, value_key) == value]


def check_eks_secrets_key_access(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    by_type: dict[str, list[PolicyResource]] = {}
    for resource in args.resources:
        by_type.setdefault(resource.resource_type, []).append(resource)
    for cluster in by_type.get(EKS_CLUSTER, []):
        with per_resource("eks-secrets-key-access", cluster.urn):
            key_arn = get(cluster.props, "encryptionConfig", "provider", "keyArn")
            if not key_arn:
                continue  # eks-secrets-encryption reports the missing encryption
            roles = _linked(cluster, "roleArn", by_type.get(IAM_ROLE, []), "arn")
            # Inline policies of the role, and managed policies attached to it (terraform-aws-modules' way).
            grants: list[tuple[PolicyResource, Any]] = []
            for policy in by_type.get(IAM_ROLE_POLICY, []):
                if _linked(policy, "role", roles, "name"):
                    grants.append((policy, get(policy.props, "policy")))
            for attachment in by_type.get(IAM_ROLE_POLICY_ATTACHMENT, []):
                if _linked(attachment, "role", roles, "name"):
                    grants += [(attachment, get(p.props, "policy")) for p in
                               _linked(attachment, "policyArn", by_type.get(IAM_POLICY, []), "arn")]
            granting = [(resource, granted_actions(_document(document), str(key_arn))) for resource, document in grants]
            covered = set().union(*(actions for _, actions in granting)) if granting else set()
            missing = [a for a in SECRETS_KEY_ACTIONS if a not in covered]
            if missing:
                report(f"EKS cluster '{cluster.name}' envelope-encrypts Secrets with {key_arn}, but its role is not "
                       f"allowed {', '.join(missing)} on that key: creating the cluster or any Secret fails. Fix: a "
                       f"policy on the cluster role allowing {', '.join(SECRETS_KEY_ACTIONS)} on the key ARN, and "
                       "depends_on it from the cluster.", cluster.urn)
                continue
            waited = {d.urn for d in cluster.dependencies or []}
            if not any(resource.urn in waited for resource, actions in granting if actions):
                report(f"EKS cluster '{cluster.name}' does not depend on the policy that lets its role use the secrets "
                       "key: the cluster can be created before the grant exists and fail. Fix: depends_on the role "
                       "policy (or its attachment).", cluster.urn)


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [
        stack_policy("kubernetes-provider-cluster-identity", "Every Kubernetes provider's clusterIdentifier is derived "
                     "from the cluster resource, so a replaced cluster replaces the provider and its objects.",
                     check_cluster_identifier,
                     schema={"clusterTypes": string_list("Resource types that create a cluster (kind's "
                                                         "`kind create cluster` command is always one).",
                                                         [EKS_CLUSTER, GKE_CLUSTER])},
                     remediation="cluster_identifier = f(cluster outputs), e.g. ARN/id plus CA fingerprint."),
        resource_policy("gke-default-pool-node-config-ignored", "A GKE cluster that removes its default pool does not "
                        "diff on nodeConfig after a refresh.", check_gke_default_pool_config,
                        remediation="ignore_changes=['nodeConfig'] on the cluster, or no nodeConfig.",
                        applies=of_types(GKE_CLUSTER)),
        resource_policy("eks-versions-pinned", "EKS add-ons pin addonVersion and node groups pin version and "
                        "releaseVersion, so a Kubernetes upgrade moves them.", check_eks_versions_pinned,
                        remediation="addon_version from get_addon_version; release_version from the EKS AMI SSM "
                                    "parameter; version from the cluster.",
                        applies=of_types(EKS_ADDON, EKS_NODE_GROUP)),
        stack_policy("eks-secrets-key-access", "The role of an EKS cluster with envelope encryption may use its KMS "
                     "key (Encrypt, Decrypt, ListGrants, DescribeKey), and the cluster waits for that grant.",
                     check_eks_secrets_key_access,
                     remediation="A role policy allowing the four actions on the key ARN; depends_on from the cluster."),
    ]
