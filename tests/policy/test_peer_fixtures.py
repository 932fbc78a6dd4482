"""The policy fixes that came out of reviewing every difference of `scripts/bench_peer_fixtures.py --aligned` on
the peers' own fixtures, each on manifests written here (the compliant namespace of test_peers.py plus one
change), with what the diagnostic must say: the peer's question, so the fixture counts as caught on it.

The fixtures themselves are not in the repository; the script's KNOWN table classifies what is left (fixtures
out of scope, documented deliberate differences)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from .pack import PackProcess
from .test_peers import C, Change, D, add, base_objects, both, diagnostics_of, drop, put


@dataclass(frozen=True)
class Fix:
    id: str
    policy: str
    change: Change
    says: str | None
    """A diagnostic of the policy contains this; None: the policy reports nothing."""
    config: dict[str, Any] = field(default_factory=dict)


_ROLE = "{apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: ops, namespace: shop}, rules: [RULE]}"
_PDB = "{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: other, namespace: shop}, spec: {SPEC, " \
       "selector: {matchLabels: {app: elsewhere}}}}"
_NO_DROP_ALL = {"requireDropAll": False, "requiredDrops": ["NET_RAW"]}


def _role(rule: str) -> Change:
    return add(_ROLE.replace("RULE", rule))


def _pdb(spec: str) -> Change:
    return add(_PDB.replace("SPEC", spec))


FIXES = [
    # RBAC: '*' verbs include escalate/bind only on (Cluster)Roles, impersonate only on identities (Checkov
    # CKV_K8S_157/158 role-failed-2 vs role-passed-2); a '*' API group is a wildcard too (CKV_K8S_49 role-failed-3).
    Fix("star-verbs-on-roles", "k8s-rbac-least-privilege",
        _role("{apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings], verbs: ['*']}"),
        "grants every verb ('*'), escalate, bind included"),
    Fix("star-verbs-on-pods", "k8s-rbac-least-privilege",
        _role("{apiGroups: [''], resources: [pods], verbs: ['*']}"), "grants every verb ('*')."),
    Fix("star-verbs-on-service-accounts", "k8s-rbac-least-privilege",
        _role("{apiGroups: [''], resources: [serviceaccounts], verbs: ['*']}"), "impersonate included"),
    Fix("star-api-group", "k8s-rbac-least-privilege",
        _role("{apiGroups: ['*'], resources: [example], verbs: [get]}"), "covers example in every API group"),
    Fix("star-everything-writable", "k8s-rbac-least-privilege",
        _role("{apiGroups: ['*'], resources: ['*'], verbs: [get, list, create, update, delete]}"),
        "writes every resource of every API group"),
    # PDBs that allow no disruption whatever the replicas, also over pods the stack does not define (Polaris
    # pdbDisruptionsIsZero, written there with the non-existent apiVersion v1).
    Fix("pdb-max-unavailable-zero", "pdb-allows-drain", _pdb("maxUnavailable: 0"),
        "(maxUnavailable 0) allows 0 disruptions at any replica count"),
    Fix("pdb-max-unavailable-zero-percent", "pdb-allows-drain", _pdb("maxUnavailable: '0%'"),
        "allows 0 disruptions at any replica count"),
    Fix("pdb-min-available-all", "pdb-allows-drain", _pdb("minAvailable: '100%'"),
        "(minAvailable 100%) allows 0 disruptions at any replica count"),
    Fix("pdb-max-unavailable-wins", "pdb-allows-drain", _pdb("minAvailable: '100%', maxUnavailable: 5"),
        "selects no pods"),  # the API takes maxUnavailable; only the unmatched selector is left to report
    # Probes: Kyverno require-pod-probes accepts any one of liveness, readiness, startup (requireAnyProbe).
    Fix("one-probe-is-enough", "k8s-probes", both(drop(D, f"{C}.livenessProbe"), drop(D, f"{C}.readinessProbe")), None,
        {"k8s-probes": {"requireAnyProbe": True}}),
    Fix("no-probe-at-all", "k8s-probes",
        both(drop(D, f"{C}.livenessProbe"), drop(D, f"{C}.readinessProbe"), drop(D, f"{C}.startupProbe")),
        "has no livenessProbe, readinessProbe, startupProbe", {"k8s-probes": {"requireAnyProbe": True}}),
    Fix("every-probe-by-default", "k8s-probes", drop(D, f"{C}.readinessProbe"), "has no readinessProbe"),
    # Capabilities: with requireDropAll off, requiredDrops still asks for NET_RAW (CKV_K8S_28, Kyverno
    # require-drop-cap-net-raw).
    Fix("net-raw-kept", "k8s-drop-all-capabilities", put(D, f"{C}.securityContext.capabilities.drop", ["CHOWN"]),
        "does not drop NET_RAW", {"k8s-drop-all-capabilities": _NO_DROP_ALL}),
    Fix("net-raw-dropped", "k8s-drop-all-capabilities", put(D, f"{C}.securityContext.capabilities.drop", ["net_raw"]),
        None, {"k8s-drop-all-capabilities": _NO_DROP_ALL}),
    # Ephemeral storage: one side set asks for the other (kube-score container-ephemeral-storage-request-and-limit).
    Fix("storage-request-without-limit", "k8s-resource-requests-limits",
        put(D, f"{C}.resources.requests.ephemeral-storage", "1Gi"), "sets no limits.ephemeral-storage"),
    Fix("storage-limit-without-request", "k8s-resource-requests-limits",
        put(D, f"{C}.resources.limits.ephemeral-storage", "1Gi"), "sets no requests.ephemeral-storage"),
    Fix("storage-both", "k8s-resource-requests-limits",
        both(put(D, f"{C}.resources.requests.ephemeral-storage", "1Gi"),
             put(D, f"{C}.resources.limits.ephemeral-storage", "2Gi")), None),
    # Secrets by content and by name (Polaris sensitiveContainerEnvVar / sensitiveConfigmapContent).
    Fix("private-key-three-dashes", "k8s-no-secret-env-literals",
        put(D, f"{C}.env", [{"name": "the_good_stuff", "value": "---BEGIN OPENSSH PRIVATE KEY---\nxxxxx\n"
                                                                 "---END  OPENSSH PRIVATE KEY---\n"}]),
        "whose value is a credential"),
    Fix("azure-batch-key", "k8s-no-secret-env-literals", put("ConfigMap/web", "data.AZURE_BATCH_KEY", "xxxxx"),
        "key 'AZURE_BATCH_KEY' looks like a secret"),
    Fix("oci-key-content", "k8s-no-secret-env-literals", put("ConfigMap/web", "data.OCI_CLI_KEY_CONTENT", "xxxxx"),
        "key 'OCI_CLI_KEY_CONTENT' looks like a secret"),
    Fix("cache-key-is-not-a-secret", "k8s-no-secret-env-literals", put("ConfigMap/web", "data.CACHE_KEY", "sessions"),
        None),
]


@pytest.mark.parametrize("fix", FIXES, ids=[f.id for f in FIXES])
def test_reviewed_peer_fixture_differences_are_fixed(pack: PackProcess, fix: Fix) -> None:
    objects = base_objects()
    fix.change(objects)
    found = diagnostics_of(pack, fix.policy, objects, fix.config)
    if fix.says is None:
        assert not found, [d.message for d in found]
    else:
        assert any(fix.says in d.message for d in found), [d.message for d in found]
