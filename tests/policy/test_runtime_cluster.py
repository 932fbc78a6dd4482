"""The cluster-lifecycle policies (runtime_cluster.py) over gRPC beyond their violating cases in `cases.py`:
the compliant alternatives they must accept, and what they do while values are unknown during a preview."""

from __future__ import annotations

import json
from collections.abc import Callable

from pulumi.output import UNKNOWN

from offline.harness import RecordedResource, StackEvaluation

from .cases import CASES, named, synthetic
from .pack import Diagnostic, PackProcess, mutated
from .test_protocol import config_document

POLICIES = {"kubernetes-provider-cluster-identity", "gke-default-pool-node-config-ignored", "eks-versions-pinned",
            "eks-secrets-key-access"}


def mine(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.policy in POLICIES]


def test_every_lifecycle_policy_is_in_the_pack_with_violating_cases_on_every_provider(pack: PackProcess) -> None:
    assert set(pack.policy_names) >= POLICIES
    stacks_per_policy = {p: {c.stack for c in CASES if c.policy == p} for p in POLICIES}
    assert stacks_per_policy["kubernetes-provider-cluster-identity"] == {"dev", "prod", "prod-gcp"}


def test_a_managed_policy_attached_to_the_role_also_grants_the_key(
    pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
) -> None:
    """terraform-aws-modules/eks grants the key through an aws_iam_policy attached to the cluster role."""
    pack.configure(config_document("prod"), force_all="mandatory")
    resources = mutated(evaluated("prod").resources)
    inline = named(resources, "aws:iam/rolePolicy:RolePolicy", "cluster-encryption")
    resources.remove(inline)
    document = json.loads(inline.inputs["policy"])
    document["Statement"][0]["Action"] = "kms:*"  # a wildcard covers the four actions
    policy = synthetic("aws:iam/policy:Policy", "cluster-encryption",
                       {"policy": json.dumps(document), "arn": "arn:aws:iam::123456789012:policy/enc"})
    attachment = synthetic("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-encryption",
                           {"role": inline.inputs["role"], "policyArn": "arn:aws:iam::123456789012:policy/enc"},
                           property_dependencies={"role": inline.property_dependencies["role"],
                                                  "policyArn": [policy.urn]})
    resources += [policy, attachment]
    cluster = named(resources, "aws:eks/cluster:Cluster", "eks")
    cluster.dependencies = [d for d in cluster.dependencies if d != inline.urn] + [attachment.urn]
    assert not mine(pack.analyze_stack(resources))
    cluster.dependencies.remove(attachment.urn)
    assert any("does not depend on the policy" in d.message for d in mine(pack.analyze_stack(resources)))


def test_an_identifier_unknown_during_preview_is_judged_by_its_dependency(
    pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
) -> None:
    """While the cluster is being replaced its outputs are unknown; the recorded dependency still shows where the
    identifier comes from, so the policy neither blocks nor skips it."""
    for stack in ("dev", "prod", "prod-gcp"):
        pack.configure(config_document(stack), force_all="mandatory")
        resources = mutated(evaluated(stack).resources)
        provider = named(resources, "pulumi:providers:kubernetes", "kubernetes")
        provider.inputs["clusterIdentifier"] = UNKNOWN
        assert not mine(pack.analyze_stack(resources)), stack
        provider.property_dependencies.pop("clusterIdentifier")
        before = len(pack.engine.logs)
        assert not mine(pack.analyze_stack(resources)), stack  # unknown and underived: skipped with a note
        assert any("[kubernetes-provider-cluster-identity] skipped" in m for _, m, _ in pack.engine.logs[before:])


def test_gke_cluster_configurations_the_node_config_policy_accepts(
    pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
) -> None:
    pack.configure(config_document("prod-gcp"), force_all="mandatory")
    resources = mutated(evaluated("prod-gcp").resources)
    cluster = named(resources, "gcp:container/cluster:Cluster", "gke")
    assert "nodeConfig" in cluster.options["ignoreChanges"]
    assert not mine(pack.analyze(cluster, resources))
    cluster.options["ignoreChanges"] = []
    without_node_config = _copy(cluster, nodeConfig=None)
    assert not mine(pack.analyze(without_node_config, resources))
    keeps_default_pool = _copy(cluster, removeDefaultNodePool=False)
    assert not mine(pack.analyze(keeps_default_pool, resources))  # its nodeConfig is the default pool's, in use


def test_node_groups_with_a_custom_ami_are_not_asked_for_a_release_version(
    pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
) -> None:
    pack.configure(config_document("prod"), force_all="mandatory")
    resources = mutated(evaluated("prod").resources)
    group = named(resources, "aws:eks/nodeGroup:NodeGroup", "api")
    group.inputs.pop("releaseVersion")
    assert mine(pack.analyze(group, resources))
    group.inputs["amiType"] = "CUSTOM"
    assert not mine(pack.analyze(group, resources))


def _copy(resource: RecordedResource, **changes: object) -> RecordedResource:
    copy = mutated([resource])[0]
    for key, value in changes.items():
        if value is None:
            copy.inputs.pop(key, None)
        else:
            copy.inputs[key] = value
    return copy
