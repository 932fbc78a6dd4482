"""An EKS cluster built from plain pulumi_aws resources: its VPC, IAM, KMS, control plane, node groups, add-ons.

Layout: one VPC over three availability zones; nodes only in private subnets that reach the internet through
NAT gateways; load balancers in public subnets found through the `kubernetes.io/role/*` tags. The API is
reached through an access entry for one admin principal (no aws-auth ConfigMap), and the kubeconfig calls
`aws eks get-token`, so no credential is ever stored in the stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import yaml

from stack_config.cluster import EksClusterConfig, NodePool, parse_cidr

from .handle import AwsNetwork, ClusterHandle, EksIdentity, cluster_identity, kubernetes_provider
from .node_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs, pod_identity_trust_policy
from .storage import eks_storage_class

CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
EKS_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
CAPACITY_TYPES = {"onDemand": "ON_DEMAND", "spot": "SPOT"}
AMI_TYPE = "AL2023_x86_64_STANDARD"
# The latest EKS-optimized release of AMI_TYPE for a Kubernetes minor, as AWS publishes it in SSM.
AMI_RELEASE_PARAMETER = "/aws/service/eks/optimized-ami/{minor}/amazon-linux-2023/x86_64/standard/recommended/release_version"
# What the cluster role needs on its secrets key to envelope-encrypt Secrets (as terraform-aws-modules/eks grants).
SECRETS_KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
CLUSTER_ADMIN_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
CLUSTER_POLICIES = ["AmazonEKSClusterPolicy"]
NODE_POLICIES = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy"]
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
ZONE_COUNT = 3


def aws_partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def subnet_layout(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private and public subnet CIDRs, one of each per zone.

    Pods take VPC addresses (VPC CNI), so each private subnet gets a quarter of the VPC; the last quarter is cut
    into sixteenths for the public subnets, which hold only NAT gateways and load balancers.
    """
    network = parse_cidr(vpc_cidr)
    quarters = list(network.subnets(prefixlen_diff=2))
    public = list(quarters[3].subnets(prefixlen_diff=2))
    return [str(n) for n in quarters[:zones]], [str(n) for n in public[:zones]]


def autoscaler_node_template_tags(cluster_name: str, pool: NodePool) -> dict[str, str]:
    """Tags that let cluster-autoscaler discover a group and build a node from it while it has zero nodes."""
    tags = {
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{cluster_name}": "owned",
    }
    for key, value in pool.labels.items():
        tags[f"k8s.io/cluster-autoscaler/node-template/label/{key}"] = value
    for taint in pool.taints:
        tags[f"k8s.io/cluster-autoscaler/node-template/taint/{taint.key}"] = f"{taint.value}:{taint.effect}"
    return tags


def secrets_key_policy(key_arn: str) -> str:
    """The cluster role's permission on its secrets key, scoped to that key alone."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "ClusterEncryption", "Effect": "Allow", "Action": SECRETS_KEY_ACTIONS,
                       "Resource": key_arn}],
    })


def node_group_asg_name(resources: Sequence[aws.eks.outputs.NodeGroupResource]) -> str:
    """The Auto Scaling group behind a managed node group (EKS creates exactly one once the group exists).

    The SDK types every level as optional; a group without one is an EKS failure worth naming, not a None
    passed on as a tag's group name.
    """
    groups = resources[0].autoscaling_groups if resources else None
    name = groups[0].name if groups else None
    if not name:
        raise ValueError(f"EKS reported no Auto Scaling group for the node group (resources: {resources!r})")
    return name


def render_exec_kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig whose user runs `aws eks get-token` (AWS CLI v2) for a short-lived token on every use."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
            "installHint": "Install the AWS CLI v2 (https://docs.aws.amazon.com/cli/) and sign in as the admin principal.",
        }
    }
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": user}],
    }
    return yaml.safe_dump(document, sort_keys=False)


@dataclass(frozen=True)
class EksClusterArgs:
    cluster: EksClusterConfig
    pod_grace_seconds: int = 600
    """The longest termination grace period of the stack's pods (the browser's session drain): cluster-autoscaler
    waits that long for evicted pods (`max-graceful-termination-sec`) instead of its default 600 s."""


class EksCluster(pulumi.ComponentResource):
    """VPC, IAM, KMS, EKS control plane, managed node groups, managed add-ons and cluster-autoscaler."""

    handle: ClusterHandle

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:cluster:EksCluster", name, None, opts)
        config = args.cluster
        self._config = config
        partition = aws_partition(config.region)
        cluster_tag = f"kubernetes.io/cluster/{config.name}"

        self.aws_provider = aws.Provider(
            "aws",
            aws.ProviderArgs(
                region=config.region,
                default_tags=aws.ProviderDefaultTagsArgs(tags={"browser-platform/cluster": config.name,
                                                               "managed-by": "pulumi"}),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        zones = self._zones()
        private_subnets, _public_subnets = self._network(zones, cluster_tag)
        self.private_subnets = private_subnets

        # IAM: one role for the control plane, one for the nodes, each with only the AWS managed policies it needs.
        cluster_role = self._role("cluster", "eks.amazonaws.com", CLUSTER_POLICIES, partition,
                                  actions=["sts:AssumeRole", "sts:TagSession"])
        node_role = self._role("node", "ec2.amazonaws.com", NODE_POLICIES, partition, actions=["sts:AssumeRole"])

        self.secrets_key = aws.kms.Key(
            "secrets",
            aws.kms.KeyArgs(
                description=f"Envelope encryption of Kubernetes secrets in EKS cluster {config.name}",
                enable_key_rotation=True,
                deletion_window_in_days=30,
            ),
            opts=self._opts(),
        )
        aws.kms.Alias("secrets", aws.kms.AliasArgs(name=f"alias/{config.name}-eks-secrets",
                                                   target_key_id=self.secrets_key.key_id), opts=self._opts())
        # The key's default policy delegates to IAM; without this the control plane cannot use the key, and
        # creating the cluster (or any Secret) fails.
        self.secrets_key_access = aws.iam.RolePolicy(
            "cluster-encryption",
            aws.iam.RolePolicyArgs(role=cluster_role.role.name, policy=self.secrets_key.arn.apply(secrets_key_policy)),
            opts=self._opts(),
        )
        # Created up front so that its retention is ours, not the "never expire" group EKS would create.
        log_group = aws.cloudwatch.LogGroup(
            "control-plane",
            aws.cloudwatch.LogGroupArgs(name=f"/aws/eks/{config.name}/cluster",
                                        retention_in_days=config.log_retention_days),
            opts=self._opts(),
        )

        public_endpoint = bool(config.public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            "eks",
            aws.eks.ClusterArgs(
                name=config.name,
                version=config.kubernetes_version,
                role_arn=cluster_role.role.arn,
                vpc_config=aws.eks.ClusterVpcConfigArgs(
                    subnet_ids=[s.id for s in private_subnets],
                    endpoint_private_access=True,
                    endpoint_public_access=public_endpoint,
                    public_access_cidrs=list(config.public_access_cidrs) if public_endpoint else None,
                ),
                access_config=aws.eks.ClusterAccessConfigArgs(
                    authentication_mode="API",
                    bootstrap_cluster_creator_admin_permissions=False,
                ),
                encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                    provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.secrets_key.arn),
                    resources=["secrets"],
                ),
                enabled_cluster_log_types=CONTROL_PLANE_LOG_TYPES,
                upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=config.support_type),
                # Every add-on below is an EKS managed add-on; nothing unmanaged is installed behind our back.
                bootstrap_self_managed_addons=False,
                deletion_protection=config.deletion_protection,
                tags={"Name": config.name},
            ),
            opts=pulumi.ResourceOptions.merge(
                self._opts(depends_on=[log_group, *cluster_role.attachments, self.secrets_key_access]),
                # The same switch as the API's deletion protection: with it on, the preview of a destroy or a
                # replacement fails, so nothing is deleted; the API flag alone fails only at the cluster, after
                # node groups, add-ons and every Kubernetes object are gone.
                pulumi.ResourceOptions(protect=config.deletion_protection),
            ),
        )

        admin_entry = aws.eks.AccessEntry(
            "admin",
            aws.eks.AccessEntryArgs(cluster_name=self.cluster.name, principal_arn=config.admin_arn,
                                    type="STANDARD"),
            opts=self._opts(),
        )
        self.admin_access = aws.eks.AccessPolicyAssociation(
            "admin",
            aws.eks.AccessPolicyAssociationArgs(
                cluster_name=self.cluster.name,
                principal_arn=config.admin_arn,
                policy_arn=CLUSTER_ADMIN_POLICY.format(partition=partition),
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            ),
            opts=self._opts(depends_on=[admin_entry]),
        )

        # Node groups follow kubernetesVersion with the newest EKS-optimized AMI release of that minor.
        release = aws.ssm.get_parameter_output(
            name=AMI_RELEASE_PARAMETER.format(minor=config.kubernetes_version),
            opts=pulumi.InvokeOutputOptions(provider=self.aws_provider, parent=self),
        )
        # insecure_value: a public AMI version, which `value` (always marked secret) would hide in every diff.
        self._release_version: pulumi.Output[str] = release.insecure_value

        # Networking and identity add-ons must be running before nodes can become Ready.
        node_prerequisites = [
            self._addon("vpc-cni", json.dumps({"enableNetworkPolicy": "true"})),
            self._addon("kube-proxy"),
            self._addon("eks-pod-identity-agent"),
        ]
        self.node_groups = [
            self._node_group(pool, node_role, private_subnets, [*node_prerequisites, *node_role.attachments])
            for pool in config.node_pools
        ]

        # Add-ons with Deployments need nodes; creating them earlier leaves them DEGRADED until timeout.
        ebs_role = self._pod_identity_role("ebs-csi", [f"arn:{partition}:iam::aws:policy/{EBS_CSI_POLICY}"])
        ebs_association = aws.eks.PodIdentityAssociation(
            "ebs-csi",
            aws.eks.PodIdentityAssociationArgs(cluster_name=self.cluster.name, namespace="kube-system",
                                               service_account="ebs-csi-controller-sa", role_arn=ebs_role.role.arn),
            opts=self._opts(depends_on=ebs_role.attachments),
        )
        after_nodes = [
            self._addon("coredns", depends_on=self.node_groups),
            self._addon("aws-ebs-csi-driver", depends_on=[*self.node_groups, ebs_association]),
        ]

        # The provider's kubeconfig waits for the admin access, the nodes and the add-ons, so nothing is applied
        # to a cluster that cannot yet run it.
        ready = [self.admin_access.id, *(g.id for g in self.node_groups), *(a.id for a in after_nodes)]
        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.endpoint, self.cluster.certificate_authority.data, *ready).apply(
                lambda values: render_exec_kubeconfig(config.name, config.region, values[0], values[1])
            )
        )
        identifier = pulumi.Output.all(self.cluster.arn, self.cluster.certificate_authority.data).apply(
            lambda values: cluster_identity("eks", values[0], values[1]))
        provider = kubernetes_provider(identifier, kubeconfig, parent=self)

        self.autoscaler = ClusterAutoscaler(
            "cluster-autoscaler",
            ClusterAutoscalerArgs(
                cluster_name=self.cluster.name,
                config_cluster_name=config.name,
                region=config.region,
                partition=partition,
                kubernetes_version=config.kubernetes_version,
                node_pools=list(config.node_pools),
                max_graceful_termination_seconds=args.pod_grace_seconds,
                aws_provider=self.aws_provider,
                kubernetes_provider=provider,
                depends_on=list(self.node_groups),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        # EKS has had no default StorageClass since 1.30: without this one Prometheus' volume stays Pending.
        # It names the EBS CSI driver, which `after_nodes` installs.
        self.storage_class = eks_storage_class("gp3-storage-class", provider=provider, parent=self,
                                               after=list(after_nodes))

        self.handle = ClusterHandle(
            name=config.name,
            flavor="eks",
            kubernetes_version=config.kubernetes_version,
            node_pools=list(config.node_pools),
            kubeconfig=kubeconfig,
            provider=provider,
            cloud=EksIdentity(cluster_name=self.cluster.name, partition=partition, region=config.region,
                              provider=self.aws_provider),
            storage_class=self.storage_class,
            network=AwsNetwork(
                vpc_id=self.vpc.id, vpc_cidr=config.vpc_cidr, private_subnet_ids=[s.id for s in private_subnets],
                node_security_group_id=self.cluster.vpc_config.cluster_security_group_id,
            ),
        )
        self.register_outputs({
            "kubeconfig": kubeconfig,
            "clusterArn": self.cluster.arn,
            "endpoint": self.cluster.endpoint,
            "vpcId": self.vpc.id,
        })

    # -----------------------------------------------------------------------------------------------------

    def _opts(self, depends_on: Sequence[pulumi.Resource] = (), ignore_changes: list[str] | None = None,
              parent: pulumi.Resource | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent or self, provider=self.aws_provider, depends_on=list(depends_on),
                                      ignore_changes=ignore_changes)

    def _zones(self) -> list[pulumi.Output[str]]:
        if self._config.zones:
            return [pulumi.Output.from_input(zone) for zone in self._config.zones]
        available = aws.get_availability_zones_output(
            region=self._config.region,
            state="available",
            # Local Zones and Wavelength Zones are opt-in and lack most instance types; use regular zones only.
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOutputOptions(provider=self.aws_provider, parent=self),
        )
        region = self._config.region

        def picker(index: int) -> Callable[[Sequence[str]], str]:
            def pick(names: Sequence[str]) -> str:
                if len(names) < ZONE_COUNT:
                    raise pulumi.RunError(f"{region} has {len(names)} available zones; the cluster needs {ZONE_COUNT}")
                return sorted(names)[index]
            return pick

        return [available.names.apply(picker(i)) for i in range(ZONE_COUNT)]

    def _network(self, zones: list[pulumi.Output[str]], cluster_tag: str) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.Subnet]]:
        config = self._config
        private_cidrs, public_cidrs = subnet_layout(config.vpc_cidr, len(zones))
        self.vpc = aws.ec2.Vpc(
            "vpc",
            aws.ec2.VpcArgs(cidr_block=config.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True,
                            tags={"Name": config.name}),
            opts=self._opts(),
        )
        gateway = aws.ec2.InternetGateway("igw", aws.ec2.InternetGatewayArgs(vpc_id=self.vpc.id, tags={"Name": config.name}),
                                          opts=self._opts())
        public_table = aws.ec2.RouteTable(
            "public",
            aws.ec2.RouteTableArgs(vpc_id=self.vpc.id,
                                   routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
                                   tags={"Name": f"{config.name}-public"}),
            opts=self._opts(),
        )
        public: list[aws.ec2.Subnet] = []
        private: list[aws.ec2.Subnet] = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        for index, zone in enumerate(zones):
            letter = "abc"[index]
            subnet = aws.ec2.Subnet(
                f"public-{letter}",
                aws.ec2.SubnetArgs(vpc_id=self.vpc.id, cidr_block=public_cidrs[index], availability_zone=zone,
                                   map_public_ip_on_launch=False,
                                   tags={"Name": f"{config.name}-public-{letter}", cluster_tag: "owned",
                                         "kubernetes.io/role/elb": "1"}),
                opts=self._opts(),
            )
            aws.ec2.RouteTableAssociation(f"public-{letter}", aws.ec2.RouteTableAssociationArgs(
                subnet_id=subnet.id, route_table_id=public_table.id), opts=self._opts())
            public.append(subnet)
            if index == 0 or not config.single_nat_gateway:
                address = aws.ec2.Eip(f"nat-{letter}",
                                      aws.ec2.EipArgs(domain="vpc", tags={"Name": f"{config.name}-nat-{letter}"}),
                                      opts=self._opts())
                nat_gateways.append(aws.ec2.NatGateway(
                    f"nat-{letter}",
                    aws.ec2.NatGatewayArgs(allocation_id=address.allocation_id, subnet_id=subnet.id,
                                           tags={"Name": f"{config.name}-nat-{letter}"}),
                    opts=self._opts(depends_on=[gateway]),
                ))
        for index, zone in enumerate(zones):
            letter = "abc"[index]
            subnet = aws.ec2.Subnet(
                f"private-{letter}",
                aws.ec2.SubnetArgs(vpc_id=self.vpc.id, cidr_block=private_cidrs[index], availability_zone=zone,
                                   tags={"Name": f"{config.name}-private-{letter}", cluster_tag: "owned",
                                         "kubernetes.io/role/internal-elb": "1"}),
                opts=self._opts(),
            )
            # Each zone leaves through its own NAT gateway, so losing one zone does not cut the others off.
            nat = nat_gateways[index] if index < len(nat_gateways) else nat_gateways[0]
            table = aws.ec2.RouteTable(
                f"private-{letter}",
                aws.ec2.RouteTableArgs(vpc_id=self.vpc.id,
                                       routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                                       tags={"Name": f"{config.name}-private-{letter}"}),
                opts=self._opts(),
            )
            aws.ec2.RouteTableAssociation(f"private-{letter}", aws.ec2.RouteTableAssociationArgs(
                subnet_id=subnet.id, route_table_id=table.id), opts=self._opts())
            private.append(subnet)
        return private, public

    def _role(self, name: str, service: str, managed_policies: list[str], partition: str,
              actions: list[str]) -> _Role:
        role = aws.iam.Role(
            name,
            aws.iam.RoleArgs(
                description=f"EKS {name} role of {self._config.name}",
                assume_role_policy=json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
                }),
            ),
            opts=self._opts(),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy}",
                aws.iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=f"arn:{partition}:iam::aws:policy/{policy}"),
                opts=self._opts(),
            )
            for policy in managed_policies
        ]
        return _Role(role=role, attachments=attachments)

    def _pod_identity_role(self, name: str, policy_arns: list[str]) -> _Role:
        role = aws.iam.Role(
            name,
            aws.iam.RoleArgs(description=f"{name} on EKS cluster {self._config.name} (Pod Identity)",
                             assume_role_policy=pod_identity_trust_policy()),
            opts=self._opts(),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-{arn.rsplit('/', 1)[-1]}",
                                         aws.iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=arn),
                                         opts=self._opts())
            for arn in policy_arns
        ]
        return _Role(role=role, attachments=attachments)

    def _addon(self, addon: str, configuration: str | None = None,
               depends_on: Sequence[pulumi.Resource] = ()) -> aws.eks.Addon:
        # Pinned to the newest version for kubernetesVersion: EKS never moves an installed add-on by itself, so
        # without a version kube-proxy, CoreDNS and vpc-cni would stay on the old minor after an upgrade.
        version = aws.eks.get_addon_version_output(
            addon_name=addon, kubernetes_version=self._config.kubernetes_version, most_recent=True,
            opts=pulumi.InvokeOutputOptions(provider=self.aws_provider, parent=self),
        )
        return aws.eks.Addon(
            addon,
            aws.eks.AddonArgs(
                cluster_name=self.cluster.name,
                addon_name=addon,
                addon_version=version.version,
                configuration_values=configuration,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
            ),
            opts=self._opts(depends_on=list(depends_on)),
        )

    def _node_group(self, pool: NodePool, node_role: _Role, subnets: list[aws.ec2.Subnet],
                    depends_on: list[pulumi.Resource]) -> aws.eks.NodeGroup:
        config = self._config
        template = aws.ec2.LaunchTemplate(
            f"{pool.name}-nodes",
            aws.ec2.LaunchTemplateArgs(
                name_prefix=f"{config.name}-{pool.name}-",
                description=f"Nodes of pool {pool.name} in EKS cluster {config.name}",
                update_default_version=True,
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled",
                    http_tokens="required",  # IMDSv2 only
                    http_put_response_hop_limit=1,  # pods (one hop away) cannot reach the node's credentials
                    instance_metadata_tags="disabled",
                ),
                block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=pool.disk_size_gb,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )],
                tag_specifications=[
                    aws.ec2.LaunchTemplateTagSpecificationArgs(
                        resource_type=kind, tags={"Name": f"{config.name}-{pool.name}", "browser-platform/pool": pool.name})
                    for kind in ("instance", "volume")
                ],
            ),
            opts=self._opts(),
        )
        template_tags = autoscaler_node_template_tags(config.name, pool)
        group = aws.eks.NodeGroup(
            pool.name,
            aws.eks.NodeGroupArgs(
                cluster_name=self.cluster.name,
                node_group_name_prefix=f"{pool.name}-",
                version=self.cluster.version,
                # The launch template sets no image, so EKS picks the AMI of ami_type at this release.
                release_version=self._release_version,
                node_role_arn=node_role.role.arn,
                subnet_ids=[s.id for s in subnets],
                ami_type=AMI_TYPE,
                capacity_type=CAPACITY_TYPES[pool.capacity_type],
                instance_types=list(pool.instance_types),
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=pool.min_nodes, max_size=pool.max_nodes, desired_size=pool.initial_nodes),
                labels=dict(pool.labels),
                taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value or None, effect=EKS_TAINT_EFFECTS[t.effect])
                        for t in pool.taints],
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
                node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
                tags=template_tags,
            ),
            opts=self._opts(
                depends_on=depends_on,
                # cluster-autoscaler owns the size between min and max; a later `pulumi up` must not reset it.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        # EKS does not copy node-group tags to the Auto Scaling group, which is what cluster-autoscaler reads to
        # build a template node for a group at zero; tag the group itself.
        asg_name = group.resources.apply(node_group_asg_name)
        for key, value in template_tags.items():
            if "/node-template/" not in key:
                continue  # EKS already puts the discovery tags on the group
            suffix = key.split("/node-template/", 1)[1].replace("/", "-").replace(".", "-")
            aws.autoscaling.Tag(
                f"{pool.name}-{suffix}",
                aws.autoscaling.TagArgs(
                    autoscaling_group_name=asg_name,
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                ),
                opts=self._opts(parent=group),
            )
        return group


@dataclass(frozen=True)
class _Role:
    role: aws.iam.Role
    attachments: list[aws.iam.RolePolicyAttachment]
