"""ACME DNS-01 on the clouds: cert-manager's cloud identity (EKS Pod Identity / GKE Workload Identity), the
ClusterIssuer that uses it without stored credentials, and the config rules that keep solver and cluster matched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.services.tls import CERT_MANAGER_NAMESPACE, CERT_MANAGER_SERVICE_ACCOUNT
from offline.harness import RecordedResource, StackEvaluation, evaluate_stack, stack_file_config
from stack_config import ConfigError, validate_stack_config

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ACCOUNT = "gcp:serviceaccount/account:Account"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
ACCOUNT_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
RELEASE = "kubernetes:helm.sh/v3:Release"
DNS01 = "tls-cert-manager-dns01"
ZONE = "Z0123456789EXAMPLE"
Evaluated = Callable[[str], StackEvaluation]


def ingress(stack: str, solver: dict[str, Any]) -> dict[str, Any]:
    values, _ = stack_file_config(stack)
    current = json.loads(values["browser-platform:ingress"])
    return {**current, "tls": {**current["tls"], "solver": solver}}


def cluster_issuer(ev: StackEvaluation) -> dict[str, Any]:
    [issuer] = [r for r in ev.kubernetes_objects() if r.inputs.get("kind") == "ClusterIssuer"]
    spec: dict[str, Any] = issuer.plain_inputs["spec"]
    return spec


def cert_manager(ev: StackEvaluation) -> RecordedResource:
    return ev.named(RELEASE, "tls-cert-manager")


def provider_of(ev: StackEvaluation, type_token: str) -> str:
    [provider] = ev.of_type(type_token)
    return provider.urn


# --------------------------------------------------------------------------------------------------------------
# EKS / Route 53 (Pulumi.prod.yaml)
# --------------------------------------------------------------------------------------------------------------

def test_route53_role_is_pod_identity_and_least_privilege(evaluated: Evaluated) -> None:
    prod = evaluated("prod")
    role = prod.named(ROLE, DNS01)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                                   "Action": ["sts:AssumeRole", "sts:TagSession"]}]
    policy = prod.named(ROLE_POLICY, DNS01)
    assert role.urn in policy.dependencies
    document = json.loads(policy.inputs["policy"])["Statement"]
    assert all(s["Effect"] == "Allow" for s in document)
    statements = {(tuple(s["Action"]), s["Resource"]) for s in document}
    assert len(statements) == len(document)
    assert statements == {
        (("route53:GetChange",), "arn:aws:route53:::change/*"),
        (("route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"), f"arn:aws:route53:::hostedzone/{ZONE}"),
        (("route53:ListHostedZonesByName",), "*"),
    }
    attachments = prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert not [a for a in attachments if a.inputs["role"] == role.outputs["name"]], "no managed policy on its role"


def test_pod_identity_association_binds_the_cert_manager_service_account(evaluated: Evaluated) -> None:
    prod = evaluated("prod")
    association = prod.named(ASSOCIATION, DNS01)
    cluster = prod.named("aws:eks/cluster:Cluster", "eks")
    assert association.inputs["namespace"] == CERT_MANAGER_NAMESPACE == "cert-manager"
    assert association.inputs["serviceAccount"] == CERT_MANAGER_SERVICE_ACCOUNT == "cert-manager"
    assert association.inputs["clusterName"] == cluster.outputs["name"] == "browser-platform-prod"
    assert cluster.urn in association.dependencies, "the association waits for the cluster"
    assert association.inputs["roleArn"] == prod.named(ROLE, DNS01).outputs["arn"]
    assert prod.named(ROLE_POLICY, DNS01).urn in association.dependencies
    # Every AWS resource goes through the cluster's own explicit provider.
    aws_provider = provider_of(prod, "pulumi:providers:aws")
    for resource in (association, prod.named(ROLE, DNS01), prod.named(ROLE_POLICY, DNS01)):
        assert resource.provider.startswith(aws_provider), resource.urn
    # Pod Identity binds credentials when a pod is created: cert-manager starts after the association.
    release = cert_manager(prod)
    assert association.urn in release.dependencies
    service_account = release.inputs["values"]["serviceAccount"]
    assert service_account == {"name": "cert-manager", "annotations": {}}, "no IRSA annotation: Pod Identity"


def test_route53_cluster_issuer_uses_ambient_credentials(evaluated: Evaluated) -> None:
    acme = cluster_issuer(evaluated("prod"))["acme"]
    assert acme["solvers"] == [{"dns01": {"route53": {"region": "us-east-1", "hostedZoneID": ZONE}}}]


def test_cross_account_role_is_only_assumed() -> None:
    target = "arn:aws:iam::210987654321:role/dns-writer"
    ev = evaluate_stack("prod", overrides={"ingress": ingress("prod", {
        "type": "route53", "region": "us-east-1", "hostedZoneId": ZONE, "roleArn": target})})
    policy = json.loads(ev.named(ROLE_POLICY, DNS01).inputs["policy"])
    assert policy["Statement"] == [{"Sid": "AssumeDnsRole", "Effect": "Allow", "Action": ["sts:AssumeRole"],
                                    "Resource": target}]
    assert cluster_issuer(ev)["acme"]["solvers"] == [
        {"dns01": {"route53": {"region": "us-east-1", "hostedZoneID": ZONE, "role": target}}}]
    assert ev.named(ASSOCIATION, DNS01).inputs["serviceAccount"] == "cert-manager"


# --------------------------------------------------------------------------------------------------------------
# GKE / Cloud DNS (Pulumi.prod-gcp.yaml)
# --------------------------------------------------------------------------------------------------------------

def test_cloud_dns_service_account_and_dns_role(evaluated: Evaluated) -> None:
    gke = evaluated("prod-gcp")
    account = gke.named(ACCOUNT, DNS01)
    assert account.inputs["accountId"] == "browser-platform-prod-dns01"
    assert 6 <= len(account.inputs["accountId"]) <= 30
    grants = [g for g in gke.of_type(PROJECT_MEMBER) if g.inputs["member"] == account.outputs["member"]]
    assert [(g.inputs["role"], g.inputs["project"]) for g in grants] == [("roles/dns.admin", "browser-platform-prod")]
    gcp_provider = provider_of(gke, "pulumi:providers:gcp")
    for resource in (account, *grants, gke.named(ACCOUNT_MEMBER, f"{DNS01}-workload-identity")):
        assert resource.provider.startswith(gcp_provider), resource.urn


def test_workload_identity_binding_and_service_account_annotation(evaluated: Evaluated) -> None:
    gke = evaluated("prod-gcp")
    account = gke.named(ACCOUNT, DNS01)
    binding = gke.named(ACCOUNT_MEMBER, f"{DNS01}-workload-identity")
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert binding.inputs["member"] == "serviceAccount:browser-platform-prod.svc.id.goog[cert-manager/cert-manager]"
    assert binding.inputs["serviceAccountId"] == account.outputs["name"]
    assert gke.named("gcp:container/cluster:Cluster", "gke").urn in binding.dependencies, \
        "the workload identity pool exists only once the cluster does"
    release = cert_manager(gke)
    assert release.inputs["values"]["serviceAccount"] == {
        "name": "cert-manager", "annotations": {"iam.gke.io/gcp-service-account": account.outputs["email"]}}
    assert {binding.urn, account.urn} <= set(release.dependencies)
    assert cluster_issuer(gke)["acme"]["solvers"] == [{"dns01": {"cloudDNS": {"project": "browser-platform-prod"}}}]


def test_existing_google_service_account_gets_only_the_workload_identity_binding() -> None:
    email = "dns-solver@dns-project-1.iam.gserviceaccount.com"
    ev = evaluate_stack("prod-gcp", overrides={"ingress": ingress("prod-gcp", {
        "type": "cloudDNS", "project": "dns-project-1", "gcpServiceAccount": email})})
    # Only the nodes' account and the API's data-store identity (components/data/gcp.py): none for the solver.
    assert sorted(a.name for a in ev.of_type(ACCOUNT)) == ["api-data", "nodes"]
    assert not [g for g in ev.of_type(PROJECT_MEMBER) if g.inputs["role"] == "roles/dns.admin"]
    binding = ev.named(ACCOUNT_MEMBER, f"{DNS01}-workload-identity")
    assert binding.inputs["serviceAccountId"] == f"projects/dns-project-1/serviceAccounts/{email}"
    assert cert_manager(ev).inputs["values"]["serviceAccount"]["annotations"] == {"iam.gke.io/gcp-service-account": email}


# --------------------------------------------------------------------------------------------------------------
# HTTP-01 stays possible, with its documented trade-off
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_http01_turns_the_redirect_off_and_needs_no_cloud_identity(stack: str) -> None:
    ev = evaluate_stack(stack, overrides={"ingress": ingress(stack, {"type": "http01"})})
    [gateway] = [r for r in ev.kubernetes_objects() if r.inputs.get("kind") == "Gateway"]
    http = next(s for s in gateway.plain_inputs["spec"]["servers"] if s["port"]["number"] == 80)
    assert "httpsRedirect" not in http.get("tls", {})
    assert cluster_issuer(ev)["acme"]["solvers"] == [{"http01": {"ingress": {"class": "istio"}}}]
    assert not [r for r in ev.resources if r.name.startswith(DNS01)]
    assert cert_manager(ev).inputs["values"]["serviceAccount"]["annotations"] == {}


# --------------------------------------------------------------------------------------------------------------
# Config rules
# --------------------------------------------------------------------------------------------------------------

def problems(stack: str, solver: dict[str, Any]) -> list[str]:
    values, secrets = stack_file_config(stack)
    own = {key.split(":", 1)[1]: value for key, value in values.items()}
    own["ingress"] = json.dumps(ingress(stack, solver))
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(own, {key.split(":", 1)[1] for key in secrets})
    return raised.value.problems


def test_route53_needs_a_hosted_zone_id() -> None:
    (problem,) = problems("prod", {"type": "route53", "region": "us-east-1"})
    assert problem.startswith("browser-platform:ingress.tls.solver.hostedZoneId: required for the route53 solver")
    (problem,) = problems("prod", {"type": "route53", "region": "us-east-1", "hostedZoneId": "/hostedzone/Z1"})
    assert problem.startswith("browser-platform:ingress.tls.solver.hostedZoneId:") and "Z0123456789EXAMPLE" in problem


def test_route53_is_refused_on_gke_and_cloud_dns_on_eks() -> None:
    (problem,) = problems("prod-gcp", {"type": "route53", "region": "us-east-1", "hostedZoneId": ZONE})
    assert problem.startswith("browser-platform:ingress.tls.solver.type: route53 is for eks clusters")
    assert problem.endswith("allowed here: http01, cloudDNS")
    (problem,) = problems("prod", {"type": "cloudDNS", "project": "browser-platform-prod"})
    assert problem.startswith("browser-platform:ingress.tls.solver.type: cloudDNS is for gke clusters")
    assert problem.endswith("allowed here: http01, route53")


def test_solver_problems_name_the_solver_keys() -> None:
    assert problems("prod", {"type": "route53"}) == ["browser-platform:ingress.tls.solver.region: required, but not set"]
    assert problems("prod", {"type": "dns"}) == [
        "browser-platform:ingress.tls.solver.type: must be one of: http01, route53, cloudDNS"]
    (problem,) = problems("prod", {"type": "route53", "region": "us-east-1", "hostedZoneId": ZONE, "roleArn": "admin"})
    assert problem.startswith("browser-platform:ingress.tls.solver.roleArn:")
    (problem,) = problems("prod-gcp", {"type": "cloudDNS", "project": "browser-platform-prod",
                                       "gcpServiceAccount": "not-an-email"})
    assert problem.startswith("browser-platform:ingress.tls.solver.gcpServiceAccount:")
