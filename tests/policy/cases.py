"""Violating variants of real stacks: each mutates a copy of the dev stack's recorded resources (or adds
synthetic cloud resources) so that exactly one rule is broken, and names the policy and a message fragment."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from offline.harness import RecordedResource

Resources = list[RecordedResource]


@dataclass(frozen=True)
class Case:
    id: str
    policy: str
    mutate: Callable[[Resources], RecordedResource | None]
    """Changes the resources in place; returns the resource to Analyze (resource policy) or None (stack)."""
    expect: str
    config: dict[str, Any] = field(default_factory=dict)
    level: str = "mandatory"
    stack: str = "dev"
    """The real stack whose recorded resources are mutated (its policy config file is used)."""


def named(resources: Resources, type_suffix: str, name: str) -> RecordedResource:
    for r in resources:
        if r.type.endswith(type_suffix) and r.name == name:
            return r
    raise KeyError(f"{type_suffix} {name}")


def deployment(resources: Resources, component: str) -> RecordedResource:
    return named(resources, "apps/v1:Deployment", f"{component}-deployment")


def pod(r: RecordedResource) -> dict[str, Any]:
    spec: dict[str, Any] = r.inputs["spec"]["template"]["spec"]
    return spec


def container(r: RecordedResource) -> dict[str, Any]:
    first: dict[str, Any] = pod(r)["containers"][0]
    return first


def synthetic(type_: str, name: str, inputs: dict[str, Any], **extra: Any) -> RecordedResource:
    return RecordedResource(urn=f"urn:pulumi:dev::browser-platform::{type_}::{name}", type=type_, name=name, custom=True,
                            parent="", provider="", dependencies=extra.get("dependencies", []),
                            property_dependencies=extra.get("property_dependencies", {}), inputs=inputs)


# --- compliant cloud baselines ------------------------------------------------------------------------------

def eks_cluster() -> dict[str, Any]:
    return {"version": "1.35", "vpcConfig": {"endpointPublicAccess": True, "endpointPrivateAccess": True,
                                             "publicAccessCidrs": ["203.0.113.0/24"], "subnetIds": ["a", "b"]},
            "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/k"}}}


def launch_template() -> dict[str, Any]:
    return {"metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1.0}}


def node_group(spot: bool = False) -> dict[str, Any]:
    return {"clusterName": "c", "labels": {"workload": "browser"}, "version": "1.35",
            "taints": [{"key": "workload", "value": "browser", "effect": "NO_SCHEDULE"}],
            "scalingConfig": {"minSize": 0.0, "maxSize": 10.0, "desiredSize": 1.0},
            "instanceTypes": ["c7i.2xlarge"], "capacityType": "SPOT" if spot else "ON_DEMAND",
            "launchTemplate": {"id": "lt-1", "version": "1"}}


def gke_cluster() -> dict[str, Any]:
    return {"location": "us-central1", "removeDefaultNodePool": True, "initialNodeCount": 1.0,
            "privateClusterConfig": {"enablePrivateNodes": True},
            "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"}, "releaseChannel": {"channel": "REGULAR"},
            "datapathProvider": "ADVANCED_DATAPATH", "enableShieldedNodes": True, "enableLegacyAbac": False,
            "masterAuth": {"clientCertificateConfig": {"issueClientCertificate": False}}}


def gke_node_pool() -> dict[str, Any]:
    return {"cluster": "c", "autoscaling": {"minNodeCount": 0.0, "maxNodeCount": 3.0},
            "management": {"autoRepair": True, "autoUpgrade": True},
            "nodeConfig": {"machineType": "n2-standard-8", "labels": {"workload": "api"},
                           "serviceAccount": "nodes@p.iam.gserviceaccount.com",
                           "workloadMetadataConfig": {"mode": "GKE_METADATA"},
                           "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True}}}


def add(resources: Resources, type_: str, name: str, inputs: dict[str, Any], **extra: Any) -> RecordedResource:
    resource = synthetic(type_, name, inputs, **extra)
    resources.append(resource)
    return resource


Change = Callable[[dict[str, Any]], None]
Mutation = Callable[[Resources], RecordedResource | None]


def cloud(type_: str, base: Callable[[], dict[str, Any]], change: Change) -> Mutation:
    def mutate(resources: Resources) -> RecordedResource:
        inputs = base()
        change(inputs)
        return add(resources, type_, "synthetic", inputs)
    return mutate


def edit(type_suffix: str, name: str, change: Callable[[RecordedResource], None], analyze: bool = True) -> Mutation:
    def mutate(resources: Resources) -> RecordedResource | None:
        target = named(resources, type_suffix, name)
        change(target)
        return target if analyze else None
    return mutate


def on_container(component: str, change: Change, analyze: bool = True) -> Mutation:
    def mutate(resources: Resources) -> RecordedResource | None:
        target = deployment(resources, component)
        change(container(target))
        return target if analyze else None
    return mutate


def on_pod(component: str, change: Change, analyze: bool = True) -> Mutation:
    def mutate(resources: Resources) -> RecordedResource | None:
        target = deployment(resources, component)
        change(pod(target))
        return target if analyze else None
    return mutate


def kind_config(change: Change, analyze: bool) -> Mutation:
    def mutate(resources: Resources) -> RecordedResource | None:
        command = named(resources, "command:local:Command", "kind-cluster")
        document = yaml.safe_load(command.inputs["stdin"])
        change(document)
        command.inputs["stdin"] = yaml.safe_dump(document)
        return command if analyze else None
    return mutate


def _set(d: dict[str, Any], path: str, value: Any) -> None:
    keys = [k.replace("\\.", ".") for k in re.split(r"(?<!\\)\.", path)]
    for key in keys[:-1]:
        d = d.setdefault(key, {})
    if value is None:
        d.pop(keys[-1], None)
    else:
        d[keys[-1]] = value


def s(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: _set(d, path, value)


def si(path: str, value: Any) -> Callable[[RecordedResource], None]:
    return lambda r: _set(r.inputs, path, value)


def _remove_label(labels_path: str, key: str) -> Callable[[RecordedResource], None]:
    def change(r: RecordedResource) -> None:
        d: Any = r.inputs
        for part in labels_path.split("."):
            d = d[part]
        d.pop(key, None)
    return change


def _duplicate_hpa(resources: Resources) -> None:
    original = next(r for r in resources if r.type.endswith("HorizontalPodAutoscaler"))
    twin = copy.deepcopy(original)
    twin.urn += "-twin"
    twin.name += "-twin"
    twin.inputs["metadata"]["name"] += "-twin"
    resources.append(twin)


def _remove(resources: Resources, type_suffix: str, name: str) -> None:
    resources.remove(named(resources, type_suffix, name))


def _public_subnet(resources: Resources) -> None:
    subnet = add(resources, "aws:ec2/subnet:Subnet", "public-x", {"vpcId": "v", "cidrBlock": "10.9.0.0/24",
                                                                  "mapPublicIpOnLaunch": True})
    add(resources, "aws:eks/nodeGroup:NodeGroup", "public-nodes", node_group(),
        dependencies=[subnet.urn], property_dependencies={"subnetIds": [subnet.urn]})


def _sidecar_without_requests(resources: Resources) -> None:
    """Injection on, but neither the pod annotation nor the istiod values say what the sidecar requests."""
    annotations = deployment(resources, "browser").inputs["spec"]["template"]["metadata"]["annotations"]
    annotations.pop("sidecar.istio.io/proxyCPU")
    for release in resources:
        if release.type.startswith("kubernetes:helm.sh") and release.inputs.get("chart") == "istiod":
            release.inputs.get("values", {}).pop("global", None)


def _hpa_default_metric(resources: Resources) -> None:
    """An HPA without metrics scales on 80% CPU utilization (the API default): the pods must request CPU."""
    named(resources, "HorizontalPodAutoscaler", "autoscaling-api-hpa").inputs["spec"].pop("metrics")
    container(deployment(resources, "api"))["resources"]["requests"].pop("cpu")


def _spot_pool(resources: Resources) -> None:
    add(resources, "aws:eks/nodeGroup:NodeGroup", "browser-spot", node_group(spot=True))


def stack(change: Callable[[Resources], None]) -> Callable[[Resources], None]:
    def mutate(resources: Resources) -> None:
        change(resources)
        return None
    return mutate


def _api_pool_of_one_node_with_one_api_pod(resources: Resources) -> None:
    # One API pod fits one m7i.xlarge easily; with the platform services' pods (istiod, gateway, Prometheus,
    # cert-manager, KEDA, ... at their maximum replicas) on that same untainted pool, one node is not enough.
    _set(named(resources, "aws:eks/nodeGroup:NodeGroup", "api").inputs, "scalingConfig.maxSize", 1.0)
    _set(named(resources, "aws:eks/nodeGroup:NodeGroup", "api").inputs, "scalingConfig.minSize", 1.0)
    _set(named(resources, "aws:eks/nodeGroup:NodeGroup", "api").inputs, "scalingConfig.desiredSize", 1.0)
    hpa = named(resources, "HorizontalPodAutoscaler", "autoscaling-api-hpa")
    _set(hpa.inputs, "spec.minReplicas", 1.0)
    _set(hpa.inputs, "spec.maxReplicas", 1.0)


CASES: list[Case] = [
    # --- Kubernetes resource policies ---
    Case("limits", "k8s-resource-requests-limits", on_container("api", lambda c: c["resources"]["limits"].pop("memory")),
         "sets no limits.memory"),
    Case("ephemeral", "k8s-resource-requests-limits",
         on_container("api", lambda c: c["resources"]["requests"].pop("ephemeral-storage")), "requests.ephemeral-storage"),
    Case("pod-size", "k8s-resource-requests-limits", on_container("browser", s("resources.limits.cpu", "32")),
         "above maxCpuPerPod", config={"k8s-resource-requests-limits": {"maxCpuPerPod": "8"}}),
    Case("probes", "k8s-probes", on_container("api", lambda c: c.pop("startupProbe")), "has no startupProbe"),
    Case("probe-port", "k8s-probe-ports-declared", on_container("api", s("readinessProbe.httpGet.port", "admin")),
         "which the container does not declare"),
    Case("probe-port-number", "k8s-probe-ports-declared", on_container("api", s("livenessProbe.httpGet.port", 8081.0)),
         "uses port 8081", config={"k8s-probe-ports-declared": {"requireDeclaredNumericPorts": True}}),
    Case("latest", "k8s-image-reference", on_container("api", s("image", "ghcr.io/example/api:latest")), "'latest' tag"),
    Case("no-tag", "k8s-image-reference", on_container("api", s("image", "ghcr.io/example/api")), "has no tag"),
    Case("digest", "k8s-image-reference", on_container("api", lambda c: None), "not pinned by digest",
         config={"k8s-image-reference": {"requireDigest": True}}),
    Case("registry", "k8s-image-allowed-registries", on_container("api", s("image", "nginx:1.27")),
         "not from an allowed registry"),
    Case("root-uid", "k8s-run-as-non-root", on_container("api", s("securityContext.runAsUser", 0.0)),
         "runs with runAsUser 0"),
    Case("non-root", "k8s-run-as-non-root", on_pod("api", lambda p: (p["securityContext"].pop("runAsNonRoot"),
                                                                      p["containers"][0]["securityContext"].pop("runAsNonRoot"))),
         "does not set runAsNonRoot"),
    Case("rootfs", "k8s-read-only-root-filesystem", on_container("browser", s("securityContext.readOnlyRootFilesystem", False)),
         "readOnlyRootFilesystem: false"),
    Case("escalation", "k8s-no-privilege-escalation", on_container("api", s("securityContext.allowPrivilegeEscalation", None)),
         "does not set allowPrivilegeEscalation: false"),
    Case("caps-drop", "k8s-drop-all-capabilities", on_container("api", s("securityContext.capabilities", {"drop": ["NET_RAW"]})),
         "does not drop ALL"),
    Case("caps-add", "k8s-drop-all-capabilities",
         on_container("api", s("securityContext.capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]})), "SYS_ADMIN"),
    Case("privileged", "k8s-not-privileged", on_container("api", s("securityContext.privileged", True)), "privileged: true"),
    Case("host-network", "k8s-no-host-namespaces", on_pod("api", s("hostNetwork", True)), "hostNetwork: true"),
    Case("host-path", "k8s-no-host-path",
         on_pod("api", lambda p: p["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}})),
         "hostPath /var/run/docker.sock"),
    Case("host-port", "k8s-no-host-port", on_container("api", lambda c: c["ports"][0].update(hostPort=8080.0)),
         "hostPort 8080"),
    Case("seccomp", "k8s-seccomp-runtime-default",
         on_pod("api", lambda p: (p["securityContext"].pop("seccompProfile"),
                                  p["containers"][0]["securityContext"].pop("seccompProfile"))), "Unconfined"),
    Case("seccomp-unconfined", "k8s-seccomp-runtime-default",
         on_container("api", s("securityContext.seccompProfile", {"type": "Unconfined"})), "seccomp profile Unconfined"),
    Case("automount-pod", "k8s-no-token-automount", on_pod("api", s("automountServiceAccountToken", True)),
         "automountServiceAccountToken: false"),
    Case("automount-sa", "k8s-no-token-automount",
         edit("core/v1:ServiceAccount", "api-service-account", si("automountServiceAccountToken", None)),
         "automountServiceAccountToken is not false"),
    Case("secret-env", "k8s-no-secret-env-literals",
         on_container("api", s("env", [{"name": "DB_PASSWORD", "value": "hunter2"}])), "'DB_PASSWORD' as a plain env literal"),
    Case("secret-configmap", "k8s-no-secret-env-literals",
         edit("core/v1:ConfigMap", "api-config", lambda r: r.inputs["data"].update(STRIPE_API_KEY="sk_live")),
         "'STRIPE_API_KEY' looks like a secret"),
    Case("default-ns", "k8s-no-default-namespace", edit("core/v1:ConfigMap", "api-config", si("metadata.namespace", "default")),
         "'default' namespace"),
    Case("default-ns-unset", "k8s-no-default-namespace", edit("core/v1:ConfigMap", "api-config", si("metadata.namespace", None)),
         "metadata.namespace is unset"),
    Case("replicas", "k8s-min-replicas", edit("apps/v1:Deployment", "api-deployment", si("spec.replicas", 1.0)),
         "runs 1 replica(s)", config={"k8s-min-replicas": {"minReplicas": 2}}),
    Case("pod-security-warn", "k8s-namespace-pod-security",
         edit("core/v1:Namespace", "namespace", si("metadata.labels.pod-security\\.kubernetes\\.io/warn", "privileged")),
         "sets 'privileged' as pod-security.kubernetes.io/warn"),
    Case("pod-security", "k8s-namespace-pod-security",
         edit("core/v1:Namespace", "namespace", si("metadata.labels.pod-security\\.kubernetes\\.io/enforce", None)),
         "no pod-security.kubernetes.io/enforce"),
    Case("service-type", "k8s-service-type", edit("core/v1:Service", "api-service", si("spec.type", "LoadBalancer")),
         "of type LoadBalancer"),
    Case("gateway-passthrough", "istio-gateway-tls",
         edit("Gateway", "mesh-policies-gateway-public-gateway",
              lambda r: r.inputs["spec"]["servers"][0]["tls"].update(mode="PASSTHROUGH")), "terminates no TLS"),
    Case("gateway-http", "istio-gateway-tls",
         edit("Gateway", "mesh-policies-gateway-public-gateway", lambda r: r.inputs["spec"]["servers"][1].pop("tls", None)),
         "serves plain HTTP"),
    Case("peer-auth", "istio-peer-authentication-strict",
         edit("PeerAuthentication", "mesh-policies-peerauthentication-default", si("spec.mtls.mode", "PERMISSIVE")),
         "mTLS mode PERMISSIVE"),
    Case("labels", "k8s-recommended-labels", edit("core/v1:Service", "api-service",
                                                  _remove_label("metadata.labels", "app.kubernetes.io/name")),
         "lacks app.kubernetes.io/name"),
    # --- cloud resource policies (synthetic resources next to the dev stack) ---
    Case("eks-endpoint", "eks-endpoint-restricted",
         cloud("aws:eks/cluster:Cluster", eks_cluster, s("vpcConfig.publicAccessCidrs", ["0.0.0.0/0"])), "0.0.0.0/0"),
    Case("eks-encryption", "eks-secrets-encryption", cloud("aws:eks/cluster:Cluster", eks_cluster, s("encryptionConfig", None)),
         "not envelope-encrypted"),
    Case("eks-logs", "eks-control-plane-logging",
         cloud("aws:eks/cluster:Cluster", eks_cluster, s("enabledClusterLogTypes", ["api"])), "audit, authenticator"),
    Case("eks-version", "eks-supported-version", cloud("aws:eks/cluster:Cluster", eks_cluster, s("version", "1.27")),
         "Kubernetes 1.27 is not in the supported list"),
    Case("imds-tokens", "eks-imdsv2-hop-limit",
         cloud("aws:ec2/launchTemplate:LaunchTemplate", launch_template, s("metadataOptions.httpTokens", "optional")),
         "IMDSv1 is allowed"),
    Case("imds-hops", "eks-imdsv2-hop-limit",
         cloud("aws:ec2/launchTemplate:LaunchTemplate", launch_template, s("metadataOptions.httpPutResponseHopLimit", 2.0)),
         "httpPutResponseHopLimit is 2"),
    Case("imds-default-template", "eks-imdsv2-hop-limit",
         edit("aws:eks/nodeGroup:NodeGroup", "api", si("launchTemplate", None)), "default launch template", stack="prod"),
    Case("prod-eks-endpoint", "eks-endpoint-restricted",
         edit("aws:eks/cluster:Cluster", "eks", si("vpcConfig.publicAccessCidrs", None)), "0.0.0.0/0 (the default)",
         stack="prod"),
    Case("prod-nodes-public-subnet", "eks-no-public-node-ips",
         stack(lambda rs: named(rs, "aws:ec2/subnet:Subnet", "private-c").inputs.update(mapPublicIpOnLaunch=True)),
         "maps public IPs on launch", stack="prod"),
    Case("prod-gcp-abac", "gke-no-legacy-auth", edit("gcp:container/cluster:Cluster", "gke", si("enableLegacyAbac", True)),
         "legacy ABAC is on", stack="prod-gcp"),
    Case("prod-gcp-pool-sa", "gke-node-service-account",
         edit("gcp:container/nodePool:NodePool", "browser", si("nodeConfig.serviceAccount", "default")),
         "Compute Engine default service account", stack="prod-gcp"),
    Case("prod-platform-services", "node-capacity", stack(_api_pool_of_one_node_with_one_api_pod),
         "platform services", stack="prod"),
    Case("prod-gcp-spot-drain", "browser-spot-drain", stack(lambda rs: None), "interruption notice is 30s",
         level="advisory", stack="prod-gcp"),
    Case("lt-public-ip", "eks-launch-template-no-public-ip",
         cloud("aws:ec2/launchTemplate:LaunchTemplate", launch_template,
               s("networkInterfaces", [{"associatePublicIpAddress": "true"}])), "associates a public IP"),
    Case("eks-pool-label", "node-pool-workload-label", cloud("aws:eks/nodeGroup:NodeGroup", node_group, s("labels", {})),
         "has no 'workload' label"),
    Case("kind-pool-label", "node-pool-workload-label",
         kind_config(lambda d: [n.pop("labels", None) for n in d["nodes"]], analyze=True), "has no 'workload' label"),
    Case("gke-pool-label", "node-pool-workload-label",
         cloud("gcp:container/nodePool:NodePool", gke_node_pool, s("nodeConfig.labels", None)), "has no 'workload' label"),
    Case("gke-private", "gke-private-nodes",
         cloud("gcp:container/cluster:Cluster", gke_cluster, s("privateClusterConfig", None)), "nodes get public IPs"),
    Case("gke-wi", "gke-workload-identity",
         cloud("gcp:container/cluster:Cluster", gke_cluster, s("workloadIdentityConfig", None)), "Workload Identity is off"),
    Case("gke-wi-pool", "gke-workload-identity",
         cloud("gcp:container/nodePool:NodePool", gke_node_pool, s("nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA")),
         "GKE_METADATA"),
    Case("gke-shielded", "gke-shielded-nodes",
         cloud("gcp:container/nodePool:NodePool", gke_node_pool, s("nodeConfig.shieldedInstanceConfig", None)),
         "secure boot is off"),
    Case("gke-channel", "gke-release-channel",
         cloud("gcp:container/cluster:Cluster", gke_cluster, s("releaseChannel", None)), "release channel is unset"),
    Case("gke-dataplane", "gke-dataplane-v2",
         cloud("gcp:container/cluster:Cluster", gke_cluster, s("datapathProvider", "LEGACY_DATAPATH")),
         "NetworkPolicies are not enforced"),
    Case("gke-abac", "gke-no-legacy-auth", cloud("gcp:container/cluster:Cluster", gke_cluster, s("enableLegacyAbac", True)),
         "legacy ABAC is on"),
    Case("gke-cert", "gke-no-legacy-auth",
         cloud("gcp:container/cluster:Cluster", gke_cluster,
               s("masterAuth.clientCertificateConfig.issueClientCertificate", True)), "client certificate"),
    Case("gke-repair", "gke-node-auto-repair-upgrade",
         cloud("gcp:container/nodePool:NodePool", gke_node_pool, s("management.autoRepair", False)), "autoRepair is off"),
    Case("gke-sa", "gke-node-service-account",
         cloud("gcp:container/nodePool:NodePool", gke_node_pool, s("nodeConfig.serviceAccount", None)),
         "Compute Engine default service account"),
    # --- stack policies ---
    Case("pdb-min-available", "pdb-allows-drain",
         edit("PodDisruptionBudget", "api-pdb", lambda r: (r.inputs["spec"].pop("maxUnavailable"),
                                                          r.inputs["spec"].update(minAvailable=1.0)), analyze=False),
         "a node drain would hang"),
    Case("pdb-zero", "pdb-allows-drain", edit("PodDisruptionBudget", "api-pdb", si("spec.maxUnavailable", "0%"), analyze=False),
         "allows 0 disruptions"),
    Case("hpa-target", "autoscaler-target-exists",
         edit("HorizontalPodAutoscaler", "autoscaling-api-hpa", si("spec.scaleTargetRef.name", "apii"), analyze=False),
         "which this stack does not define"),
    Case("two-autoscalers", "one-autoscaler-per-target", stack(_duplicate_hpa), "is scaled by 2 autoscalers"),
    Case("replicas-under-hpa", "one-autoscaler-per-target",
         edit("apps/v1:Deployment", "api-deployment", si("spec.replicas", 3.0), analyze=False), "sets spec.replicas 3"),
    Case("hpa-min", "long-running-min-replicas", stack(lambda rs: None), "scale down to 1 replica(s)",
         config={"long-running-min-replicas": {"minReplicas": 2}}),
    Case("utilization-requests", "utilization-metrics-need-requests",
         on_container("api", lambda c: c["resources"]["requests"].pop("memory"), analyze=False), "request no memory"),
    Case("utilization-sidecar", "utilization-metrics-need-requests", stack(_sidecar_without_requests),
         "istio-proxy sidecar"),
    Case("service-port", "service-selects-pods",
         edit("core/v1:Service", "api-service", lambda r: r.inputs["spec"]["ports"][0].update(targetPort="grpc"),
              analyze=False), "targets 'grpc'"),
    Case("service-selector", "service-selects-pods",
         edit("core/v1:Service", "api-service", si("spec.selector", {"app.kubernetes.io/name": "apx"}), analyze=False),
         "matches no pod template"),
    Case("servicemonitor-port", "servicemonitor-selects-service",
         edit("ServiceMonitor", "platform-monitors-api-servicemonitor",
              lambda r: r.inputs["spec"]["endpoints"][0].update(port="metricz"), analyze=False), "scrapes port 'metricz'"),
    Case("servicemonitor-labels", "servicemonitor-selects-service",
         edit("ServiceMonitor", "platform-monitors-api-servicemonitor",
              _remove_label("metadata.labels", "release"), analyze=False), "lacks the labels Prometheus selects"),
    Case("servicemonitor-selector", "servicemonitor-selects-service",
         edit("ServiceMonitor", "platform-monitors-api-servicemonitor",
              si("spec.selector", {"matchLabels": {"app": "nope"}}), analyze=False), "selects no Service"),
    Case("toleration", "workload-schedulable", on_pod("browser", s("tolerations", None), analyze=False),
         "untolerated taint workload=browser:NoSchedule"),
    Case("node-selector", "workload-schedulable", on_pod("api", s("nodeSelector", {"workload": "gpu"}), analyze=False),
         "fits no node pool"),
    Case("capacity-max", "node-capacity",
         edit("ScaledObject", "keda-browser-scaledobject", si("spec.maxReplicaCount", 40.0), analyze=False),
         "cannot hold its workloads at maximum scale"),
    Case("capacity-pod", "node-capacity", on_container("browser", s("resources.requests.memory", "64Gi"), analyze=False),
         "more than a kind node"),
    Case("default-deny-types", "default-deny-with-dns",
         edit("NetworkPolicy", "network-policies-default-deny-all", lambda r: r.inputs["spec"].pop("policyTypes"),
              analyze=False), "no default-deny egress"),
    Case("hpa-default-metric", "utilization-metrics-need-requests",
         stack(_hpa_default_metric), "scales on cpu utilization"),
    Case("mtls-coverage", "istio-mtls-strict-coverage",
         stack(lambda rs: _remove(rs, "PeerAuthentication", "mesh-policies-peerauthentication-default")),
         "has a STRICT PeerAuthentication without selector"),
    Case("dns", "default-deny-with-dns", stack(lambda rs: _remove(rs, "NetworkPolicy", "network-policies-allow-dns-egress")),
         "reach DNS"),
    Case("default-deny", "default-deny-with-dns",
         stack(lambda rs: _remove(rs, "NetworkPolicy", "network-policies-default-deny-all")), "no default-deny"),
    Case("kind-cni", "network-policy-enforced",
         kind_config(lambda d: d.setdefault("networking", {}).update(disableDefaultCNI=True), analyze=False),
         "disables kindnet"),
    Case("quota", "resource-quota-fits", edit("core/v1:ResourceQuota", "namespace-quota", si("spec.hard.limits\\.memory", "1Gi"),
                                              analyze=False), "hard limits.memory 1Gi"),
    Case("quota-pods", "resource-quota-fits",
         edit("core/v1:ResourceQuota", "namespace-quota", si("spec.hard.pods", "2"), analyze=False), "allows 2 pods"),
    Case("shm-size", "browser-shm", on_pod("browser", lambda p: p["volumes"][1]["emptyDir"].pop("sizeLimit"), analyze=False),
         "no sizeLimit"),
    Case("shm-limit", "browser-shm", on_container("browser", s("resources.limits.memory", "1Gi"), analyze=False),
         "plus /dev/shm"),
    Case("shm-missing", "browser-shm",
         on_pod("browser", lambda p: p["containers"][0]["volumeMounts"].pop(1), analyze=False),
         "without a memory-backed /dev/shm"),
    Case("grace", "browser-grace-period", on_pod("browser", s("terminationGracePeriodSeconds", 30.0), analyze=False),
         "shorter than the session timeout 300s"),
    Case("spot", "browser-spot-drain", stack(_spot_pool), "interruption notice is 120s", level="advisory"),
    Case("public-subnet", "eks-no-public-node-ips", stack(_public_subnet), "maps public IPs on launch"),
]


def dump(case: Case) -> str:
    return json.dumps({"policy": case.policy, "expect": case.expect})


# Cases of the cluster-lifecycle policies (policy/browser_platform_policies/runtime_cluster.py).
from .runtime_cluster_cases import cases as _runtime_cluster_cases  # noqa: E402

CASES += _runtime_cluster_cases()
# Cases of the runtime-reach policies live in their own module (it imports the helpers above, hence the end).
from .runtime_reach_cases import RUNTIME_REACH_CASES  # noqa: E402

CASES += RUNTIME_REACH_CASES
# Cases of the peer-alignment policies (policy/browser_platform_policies/peers.py).
from .peers_cases import PEERS_CASES  # noqa: E402

CASES += PEERS_CASES

from .data_stores_cases import DATA_STORE_CASES  # noqa: E402

CASES += DATA_STORE_CASES
# Cases of the browser-session policies (policy/browser_platform_policies/runtime_sessions.py).
from .runtime_sessions_cases import RUNTIME_SESSIONS_CASES  # noqa: E402

CASES += RUNTIME_SESSIONS_CASES
# Cases of the role-keyed policies (policy/browser_platform_policies/workload_roles.py).
from .workload_roles_cases import WORKLOAD_ROLES_CASES  # noqa: E402

CASES += WORKLOAD_ROLES_CASES
# Cases of the existing-cluster policies (policy/browser_platform_policies/existing_cluster.py).
from .existing_cluster_cases import cases as _existing_cluster_cases  # noqa: E402

CASES += _existing_cluster_cases()
# Cases of the edge-protection policies (policy/browser_platform_policies/edge.py).
from .edge_cases import EDGE_CASES  # noqa: E402

CASES += EDGE_CASES
# Cases of the store alarm / mesh / DB-role policies (policy/browser_platform_policies/store_alerts.py).
from .store_alerts_cases import STORE_ALERTS_CASES  # noqa: E402

CASES += STORE_ALERTS_CASES
# Cases of the priority and headroom policies (policy/browser_platform_policies/priorities.py).
from .priorities_cases import PRIORITY_CASES  # noqa: E402

CASES += PRIORITY_CASES
# Cases of the tracing and alert-routing policies (policy/browser_platform_policies/observability.py).
from .observability_cases import OBSERVABILITY_CASES  # noqa: E402

CASES += OBSERVABILITY_CASES
# Cases of the Kiali and mesh-metrics policies (policy/browser_platform_policies/kiali.py).
from .kiali_cases import KIALI_CASES  # noqa: E402

CASES += KIALI_CASES
