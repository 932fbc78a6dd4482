"""cluster-autoscaler on EKS: Helm release plus a least-privilege IAM role reached through EKS Pod Identity.

Managed node groups are Auto Scaling groups; cluster-autoscaler finds them by the tags EKS puts on them
(`k8s.io/cluster-autoscaler/enabled`, `k8s.io/cluster-autoscaler/<cluster>`) and may only change the size of
groups carrying its own cluster's tag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from capacity import platform_services as sizes
from stack_config.cluster import NodePool

CHART_REPOSITORY = "https://kubernetes.github.io/autoscaler"
IMAGE_REPOSITORY = "registry.k8s.io/autoscaling/cluster-autoscaler"

# cluster-autoscaler is released per Kubernetes minor and only tested against that minor, so the chart and the
# image are pinned per minor. Upstream's compatibility table lists chart 9.47.0+ for 1.33 and 9.51.0+ for 1.34;
# chart 9.54.0 is the first whose appVersion is 1.35.0. The image tag is set explicitly as well, so the running
# binary always matches the control plane even if a chart's default tag lags behind.
RELEASES: dict[str, tuple[str, str]] = {
    "1.35": ("9.54.0", "v1.35.0"),
    "1.34": ("9.51.0", "v1.34.0"),
    "1.33": ("9.47.0", "v1.33.1"),
}

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"


def pod_identity_trust_policy() -> str:
    """Trust policy of every role handed to pods through EKS Pod Identity."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }],
    })


def autoscaler_policy(cluster_name: str, partition: str, region: str) -> str:
    """Read what it needs to plan; change the size only of this cluster's groups."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DescribeScalingState",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                # Labels and taints of a group that is at zero nodes come from its managed node group.
                "Sid": "DescribeOwnNodegroups",
                "Effect": "Allow",
                "Action": ["eks:DescribeNodegroup"],
                "Resource": f"arn:{partition}:eks:{region}:*:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ScaleOwnGroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
            },
        ],
    })


EXPENDABLE_PODS_PRIORITY_CUTOFF = -10
"""`--expendable-pods-priority-cutoff`, written out at the binary's default: pods below it never cause a scale-up
(and do not hold a node on scale-down). The headroom placeholders' PriorityClass must not be below it
(components/services/priority_classes.py; policy headroom-placeholders reads the value from this release)."""

DEFAULT_MAX_GRACEFUL_TERMINATION_SECONDS = 600
"""cluster-autoscaler's own default for `--max-graceful-termination-sec`."""


def autoscaler_values(cluster_name: str, region: str, image_tag: str, pools: list[NodePool],
                      max_graceful_termination_seconds: int = DEFAULT_MAX_GRACEFUL_TERMINATION_SECONDS,
                      ) -> dict[str, object]:
    # Run on an on-demand, untainted pool: a spot reclaim must not take the thing that replaces capacity.
    home = next((p for p in pools if p.capacity_type == "onDemand" and not p.taints), None)
    values: dict[str, object] = {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "fullnameOverride": "cluster-autoscaler",
        "image": {"repository": IMAGE_REPOSITORY, "tag": image_tag},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        # The chart's default, written out: the built-in class is admitted in kube-system on every provider, and
        # without this pod no node is ever added (components/services/priority_classes.py).
        "priorityClassName": "system-cluster-critical",
        "extraArgs": {
            "balance-similar-node-groups": True,
            "expander": "least-waste",
            "skip-nodes-with-system-pods": False,
            "expendable-pods-priority-cutoff": EXPENDABLE_PODS_PRIORITY_CUTOFF,
            # When scale-down evicts a pod it waits at most this long for it to end, then removes the node anyway;
            # it covers the longest grace period of the stack (the browser's session drain). Browser pods also
            # carry safe-to-evict "false", so their nodes are removed only once the HPA/KEDA has scaled them in.
            "max-graceful-termination-sec": max(max_graceful_termination_seconds,
                                                DEFAULT_MAX_GRACEFUL_TERMINATION_SECONDS),
        },
        # Requests and replicas from capacity/platform_services.py, which the capacity model counts.
        "replicaCount": sizes.CLUSTER_AUTOSCALER_REPLICAS.max,
        "resources": sizes.CLUSTER_AUTOSCALER.resource_values(),  # requests and limits from the capacity model
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                     "capabilities": {"drop": ["ALL"]}},
    }
    if home is not None:
        values["nodeSelector"] = dict(home.labels)
    return values


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    cluster_name: pulumi.Input[str]
    """The EKS cluster's name as an output, so that everything here waits for the cluster."""
    config_cluster_name: str
    region: str
    partition: str
    kubernetes_version: str
    node_pools: list[NodePool]
    aws_provider: aws.Provider
    kubernetes_provider: k8s.Provider
    max_graceful_termination_seconds: int = DEFAULT_MAX_GRACEFUL_TERMINATION_SECONDS
    """How long scale-down waits for an evicted pod: the longest pod grace period of the stack."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Typically the node groups: the release waits for a node to run on."""


class ClusterAutoscaler(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:cluster:ClusterAutoscaler", name, None, opts)
        chart_version, image_tag = RELEASES[args.kubernetes_version]
        on_aws = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)

        self.role = aws.iam.Role(
            "cluster-autoscaler",
            aws.iam.RoleArgs(
                description=f"cluster-autoscaler of EKS cluster {args.config_cluster_name} (Pod Identity)",
                assume_role_policy=pod_identity_trust_policy(),
            ),
            opts=on_aws,
        )
        self.policy = aws.iam.RolePolicy(
            "cluster-autoscaler",
            aws.iam.RolePolicyArgs(
                role=self.role.id,
                policy=autoscaler_policy(args.config_cluster_name, args.partition, args.region),
            ),
            opts=on_aws,
        )
        self.association = aws.eks.PodIdentityAssociation(
            "cluster-autoscaler",
            aws.eks.PodIdentityAssociationArgs(
                cluster_name=args.cluster_name,
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                role_arn=self.role.arn,
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=args.aws_provider, depends_on=[self.policy]),
        )
        self.release = k8s.helm.v3.Release(
            "cluster-autoscaler",
            k8s.helm.v3.ReleaseArgs(
                chart="cluster-autoscaler",
                version=chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
                namespace=NAMESPACE,
                name="cluster-autoscaler",
                values=autoscaler_values(args.config_cluster_name, args.region, image_tag, args.node_pools,
                                         args.max_graceful_termination_seconds),
                atomic=True,
                cleanup_on_fail=True,
                timeout=600,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.kubernetes_provider,
                depends_on=[self.association, *args.depends_on],
            ),
        )
        self.register_outputs({"chartVersion": chart_version, "imageTag": image_tag, "roleArn": self.role.arn})
