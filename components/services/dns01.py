"""The cloud identity cert-manager solves ACME DNS-01 with: no stored credentials, least privilege.

- EKS / Route 53: an IAM role trusted by EKS Pod Identity and associated with cert-manager's ServiceAccount.
  Its policy may change records in the one configured hosted zone (plus the zone lookup and change polling
  cert-manager does). With `roleArn` set (a zone in another account) the role may only assume that role,
  which the ClusterIssuer names in `route53.role` and which holds the Route 53 permissions itself.
  cert-manager >= 1.16 picks up Pod Identity credentials through the AWS SDK's default chain.
- GKE / Cloud DNS: a Google service account with roles/dns.admin on the DNS project, impersonated by
  cert-manager's ServiceAccount through Workload Identity (the `iam.gke.io/gcp-service-account` annotation plus
  a roles/iam.workloadIdentityUser binding). With `gcpServiceAccount` set, that account is used and its DNS
  roles are the operator's to grant; only the Workload Identity binding is created.

Every cloud resource goes through the cluster component's own explicit provider.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi

from stack_config.addons import CloudDnsSolver, Route53Solver

from ..clusters.handle import EksIdentity, GkeIdentity

GKE_SERVICE_ACCOUNT_ANNOTATION = "iam.gke.io/gcp-service-account"
CLOUD_DNS_ROLE = "roles/dns.admin"
"""cert-manager's documented role; it lists zones and changes record sets across the project."""
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"


@dataclass(frozen=True)
class SolverIdentity:
    """What the cert-manager release needs from the cloud identity."""

    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    ready: list[pulumi.Resource] = field(default_factory=list)
    """cert-manager's pods must start after these: the credentials are bound when a pod is created."""


def route53_policy(partition: str, hosted_zone_id: str) -> str:
    """Change records in one hosted zone; look zones up and poll changes (neither names a zone)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PollChanges",
                "Effect": "Allow",
                "Action": ["route53:GetChange"],
                "Resource": f"arn:{partition}:route53:::change/*",
            },
            {
                "Sid": "ChangeRecordsInTheZone",
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                "Resource": f"arn:{partition}:route53:::hostedzone/{hosted_zone_id}",
            },
            {
                "Sid": "FindZones",
                "Effect": "Allow",
                "Action": ["route53:ListHostedZonesByName"],
                "Resource": "*",
            },
        ],
    })


def assume_role_policy(role_arn: str) -> str:
    """Only assume the DNS role of another account (which holds the Route 53 permissions)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "AssumeDnsRole", "Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": role_arn}],
    })


def workload_identity_member(workload_pool: str, namespace: str, service_account: str) -> str:
    return f"serviceAccount:{workload_pool}[{namespace}/{service_account}]"


def cert_manager_account_id(cluster_name: str) -> str:
    """6-30 characters, starting with a letter, not ending in '-'; one per cluster in a shared project."""
    return f"{cluster_name[:24].rstrip('-')}-dns01"


def route53_identity(name: str, solver: Route53Solver, cloud: EksIdentity, cluster_name: str, namespace: str,
                     service_account: str, parent: pulumi.Resource) -> SolverIdentity:
    # Each cloud's SDK is imported where it is used: tls.py imports this module on every stack.
    import pulumi_aws as aws

    from ..clusters.node_autoscaler import pod_identity_trust_policy

    on_aws = pulumi.ResourceOptions(parent=parent, provider=cloud.provider)
    role = aws.iam.Role(
        name,
        aws.iam.RoleArgs(
            description=f"cert-manager DNS-01 on EKS cluster {cluster_name} (Pod Identity)",
            assume_role_policy=pod_identity_trust_policy(),
        ),
        opts=on_aws,
    )
    policy = aws.iam.RolePolicy(
        name,
        aws.iam.RolePolicyArgs(
            role=role.id,
            policy=assume_role_policy(solver.role_arn) if solver.role_arn
            else route53_policy(cloud.partition, solver.zone_id),
        ),
        opts=on_aws,
    )
    association = aws.eks.PodIdentityAssociation(
        name,
        aws.eks.PodIdentityAssociationArgs(
            cluster_name=cloud.cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.arn,
        ),
        opts=pulumi.ResourceOptions(parent=parent, provider=cloud.provider, depends_on=[policy]),
    )
    return SolverIdentity(ready=[association])


def cloud_dns_identity(name: str, solver: CloudDnsSolver, cloud: GkeIdentity, cluster_name: str, namespace: str,
                       service_account: str, parent: pulumi.Resource) -> SolverIdentity:
    import pulumi_gcp as gcp  # where it is used, as in route53_identity

    on_gcp = pulumi.ResourceOptions(parent=parent, provider=cloud.provider)
    ready: list[pulumi.Resource] = []
    if solver.gcp_service_account:
        email: pulumi.Input[str] = solver.gcp_service_account
        account_project = solver.gcp_service_account.split("@", 1)[1].split(".", 1)[0]
        account_name: pulumi.Input[str] = f"projects/{account_project}/serviceAccounts/{email}"
    else:
        account = gcp.serviceaccount.Account(
            name,
            gcp.serviceaccount.AccountArgs(
                account_id=cert_manager_account_id(cluster_name),
                display_name=f"cert-manager DNS-01 of {cluster_name}",
                description="Impersonated by cert-manager (Workload Identity) to answer ACME DNS-01 in Cloud DNS.",
            ),
            opts=on_gcp,
        )
        ready.append(gcp.projects.IAMMember(
            f"{name}-dns-admin",
            gcp.projects.IAMMemberArgs(project=solver.project, role=CLOUD_DNS_ROLE, member=account.member),
            opts=on_gcp,
        ))
        email, account_name = account.email, account.name
    ready.append(gcp.serviceaccount.IAMMember(
        f"{name}-workload-identity",
        gcp.serviceaccount.IAMMemberArgs(
            service_account_id=account_name,
            role=WORKLOAD_IDENTITY_USER,
            member=cloud.workload_pool.apply(lambda pool: workload_identity_member(pool, namespace, service_account)),
        ),
        opts=on_gcp,
    ))
    return SolverIdentity(service_account_annotations={GKE_SERVICE_ACCOUNT_ANNOTATION: email}, ready=ready)
