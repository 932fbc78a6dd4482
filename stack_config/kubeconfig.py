"""How the program reaches an existing cluster: the kubeconfig it is given, checked and cut down to one context.

`resolve_existing_access` runs in the loader, after the model is valid and before anything is registered, so
a missing secret, an unknown context or a kubeconfig that does not verify the API server is a config error
naming `cluster.kubeconfig.secret` / `cluster.kubeconfig.context`, never a traceback during `up`.

The result holds one context, its cluster and its user (the only credentials the stack's state keeps, as a
secret), the API server's address and the cluster CA the provider's `clusterIdentifier` is derived from
(components/clusters/handle.py `cluster_identity`).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .cluster import ExistingClusterConfig


@dataclass(frozen=True)
class ExistingAccess:
    kubeconfig: str
    """A kubeconfig with exactly the chosen context, its cluster and its user; secret."""
    context: str
    server: str
    ca_data: str
    """The cluster's CA certificate (base64 PEM) as the kubeconfig gives it; '' when the server's certificate is
    publicly trusted (then the server address stands for the cluster in its identity)."""

    @property
    def identity_material(self) -> str:
        return self.ca_data or f"server:{self.server}"


class KubeconfigError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def local_kubeconfig_paths(environ: dict[str, str] | None = None) -> list[Path]:
    """Where kubectl reads the kubeconfig from: the `KUBECONFIG` list, else `~/.kube/config`."""
    env = os.environ if environ is None else environ
    listed = [Path(part).expanduser() for part in env.get("KUBECONFIG", "").split(os.pathsep) if part]
    return listed or [Path("~/.kube/config").expanduser()]


def _merged(paths: list[Path]) -> dict[str, Any]:
    """kubectl's merge of several kubeconfig files: the first file that defines a name wins."""
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": [], "current-context": None}
    for path in paths:
        if not path.is_file():
            continue
        document = yaml.safe_load(path.read_text()) or {}
        if not isinstance(document, dict):
            continue
        for section in ("clusters", "contexts", "users"):
            seen = {entry.get("name") for entry in merged[section]}
            merged[section].extend(entry for entry in document.get(section) or []
                                   if isinstance(entry, dict) and entry.get("name") not in seen)
        merged["current-context"] = merged["current-context"] or document.get("current-context")
    return merged


def _named(document: dict[str, Any], section: str, name: object) -> dict[str, Any] | None:
    return next((entry for entry in document.get(section) or [] if isinstance(entry, dict) and entry.get("name") == name),
                None)


def narrow(document: dict[str, Any], context_name: str | None, key: str) -> ExistingAccess:
    """The one-context kubeconfig of `context_name` (default: current-context); raises KubeconfigError."""
    name = context_name or document.get("current-context")
    if not name:
        raise KubeconfigError(key, "the kubeconfig has no current-context; set cluster.kubeconfig.context")
    context = _named(document, "contexts", name)
    if context is None:
        names = ", ".join(str(c.get("name")) for c in document.get("contexts") or [] if isinstance(c, dict)) or "none"
        raise KubeconfigError(key, f"context '{name}' is not in the kubeconfig; contexts there: {names}")
    details = context.get("context") or {}
    cluster = _named(document, "clusters", details.get("cluster"))
    user = _named(document, "users", details.get("user"))
    if cluster is None:
        raise KubeconfigError(key, f"context '{name}' names cluster '{details.get('cluster')}', which the "
                                     "kubeconfig does not define")
    cluster_details = cluster.get("cluster") or {}
    server = str(cluster_details.get("server") or "")
    if not server.startswith("https://"):
        raise KubeconfigError(key, f"context '{name}': the API server address must be https://, got '{server}'")
    if cluster_details.get("insecure-skip-tls-verify"):
        raise KubeconfigError(key, f"context '{name}' skips verifying the API server's certificate "
                                     "(insecure-skip-tls-verify); give its CA (certificate-authority-data) instead")
    ca_data = str(cluster_details.get("certificate-authority-data") or "")
    ca_file = cluster_details.get("certificate-authority")
    if not ca_data and ca_file:
        path = Path(str(ca_file)).expanduser()
        if not path.is_file():
            raise KubeconfigError(key, f"context '{name}': certificate-authority file {path} does not exist")
        ca_data = base64.b64encode(path.read_bytes()).decode()
        cluster = {**cluster, "cluster": {**{k: v for k, v in cluster_details.items() if k != "certificate-authority"},
                                          "certificate-authority-data": ca_data}}
    narrowed = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "contexts": [context],
        "users": [user] if user is not None else [],
        "current-context": name,
    }
    return ExistingAccess(kubeconfig=yaml.safe_dump(narrowed, sort_keys=False), context=str(name), server=server,
                          ca_data=ca_data)


def resolve_existing_access(cluster: ExistingClusterConfig, values: dict[str, str],
                            environ: dict[str, str] | None = None) -> ExistingAccess:
    """The access of an existing cluster from its secret kubeconfig, or from the local one; raises
    KubeconfigError naming the config key to fix. The secret's presence and secrecy are the loader's checks."""
    source = cluster.kubeconfig
    if source.secret is not None:
        key = "cluster.kubeconfig.secret"
        try:
            document = yaml.safe_load(values[source.secret])
        except yaml.YAMLError as error:
            raise KubeconfigError(key, f"the secret '{source.secret}' is not a kubeconfig (YAML): "
                                         f"{str(error).splitlines()[0]}") from None
        if not isinstance(document, dict) or not document.get("clusters"):
            raise KubeconfigError(key, f"the secret '{source.secret}' is not a kubeconfig (no clusters)")
        return narrow(document, source.context, "cluster.kubeconfig.context" if source.context else key)
    paths = local_kubeconfig_paths(environ)
    document = _merged(paths)
    if not document["contexts"]:
        raise KubeconfigError("cluster.kubeconfig.context", f"no kubeconfig with contexts at "
                                f"{', '.join(map(str, paths))}; set KUBECONFIG or use cluster.kubeconfig.secret")
    return narrow(document, source.context, "cluster.kubeconfig.context")
