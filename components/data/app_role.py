"""The API's own PostgreSQL role: it never connects as the master user.

One psql script (`APP_ROLE_SQL`) creates or updates the role on every provider:
- login only: NOSUPERUSER, NOCREATEDB, NOCREATEROLE, NOREPLICATION, NOBYPASSRLS;
- CONNECT and TEMPORARY on its database (taken from PUBLIC), no CREATE on `public`;
- a schema of its own where it may create its tables (its migrations), owned by the master user so the role can
  never grant more than it has; `search_path` points there.
The password never appears on a command line or in a manifest: psql reads it from the environment (`\\getenv`,
psql 15+) and sends it in the ALTER ROLE statement, as any password change does (so keep `log_statement` below
`ddl` on the servers; it is `none` on all three).

Where it runs:
- **kind**: the postgres image runs `/docker-entrypoint-initdb.d/*.sh` once, when it initialises an empty volume,
  as the superuser over the pod-local socket; the script below (`INIT_SCRIPT`) runs `APP_ROLE_SQL` there and also
  creates the exporter's `pg_monitor` role. No Job, so nothing needs a mesh identity to reach the server.
- **EKS / GKE**: no PostgreSQL provider plugin is available to this program, so a Kubernetes Job in the data
  namespace runs the same script against the managed primary as the master user (`AppRoleJob`). It is the only
  pod that ever sees the master password (a Secret of its own namespace, mounted nowhere else), runs hardened
  like the workloads, and is replaced (so it runs again) when either password or the script changes.

Not verifiable offline: that the SQL runs against RDS and Cloud SQL as their master users (rds_superuser /
cloudsqlsuperuser are not superusers; every statement here is one they are documented to be allowed), and that
the Job reaches the primary (TLS `require`; the CA is not verified, the images carry no provider CA bundle).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.batch.v1 import JobSpecArgs
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ConfigMapVolumeSourceArgs,
    ContainerArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    KeyToPathArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecretKeySelectorArgs,
    SecurityContextArgs,
    TolerationArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from stack_config.cluster import Taint

from ..common.checkov import SECRET_ENV, checkov_skips
from ..common.labels import selector_labels, standard_labels
from .wiring import POSTGRES_PORT

APP_ROLE_SQL = r"""-- The API's role (components/data/app_role.py). Variables: app_role, database, app_schema; the password
-- comes from the environment variable APP_PASSWORD; exporter_role (optional) gets pg_monitor.
\set ON_ERROR_STOP on
\getenv app_password APP_PASSWORD
SELECT format('CREATE ROLE %I', :'app_role')
  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'app_role') \gexec
ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT
  PASSWORD :'app_password';
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app_role";
\connect :"database"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS :"app_schema";
REVOKE ALL ON SCHEMA :"app_schema" FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA :"app_schema" TO :"app_role";
ALTER ROLE :"app_role" IN DATABASE :"database" SET search_path = :"app_schema";
\if :{?exporter_role}
SELECT format('CREATE ROLE %I LOGIN', :'exporter_role')
  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'exporter_role') \gexec
GRANT pg_monitor TO :"exporter_role";
\endif
"""

SQL_MOUNT = "/etc/app-role"
SQL_FILE = "app-role.sql"
APP_PASSWORD_KEY = "POSTGRES_APP_PASSWORD"
MASTER_PASSWORD_KEY = "POSTGRES_MASTER_PASSWORD"


def psql_variables(role: str, database: str, exporter_role: str | None = None) -> list[str]:
    """`-v name=value` arguments of the script (identifiers only; the password comes from the environment)."""
    variables = {"app_role": role, "database": database, "app_schema": role}
    if exporter_role:
        variables["exporter_role"] = exporter_role
    return [part for name, value in variables.items() for part in ("-v", f"{name}={value}")]


def init_script(role: str, database: str, exporter_role: str | None) -> str:
    """kind: `/docker-entrypoint-initdb.d/10-app-role.sh`, run once by the image's entrypoint as the superuser
    (POSTGRES_USER) over the pod-local socket while it initialises the volume."""
    arguments = " ".join(psql_variables(role, database, exporter_role))
    return ("#!/bin/sh\nset -eu\n"
            f'APP_PASSWORD="${APP_PASSWORD_KEY}" psql --no-psqlrc --username "$POSTGRES_USER" '
            f'--dbname "$POSTGRES_DB" {arguments} --file {SQL_MOUNT}/{SQL_FILE}\n')


def script_volumes(config_map: str) -> tuple[list[VolumeArgs], list[VolumeMountArgs]]:
    """The init script where the entrypoint looks for it, and the SQL beside it (not in initdb.d, which would run
    it a second time without its variables)."""
    volumes = [
        VolumeArgs(name="initdb", config_map=ConfigMapVolumeSourceArgs(
            name=config_map, default_mode=0o555, items=[KeyToPathArgs(key="10-app-role.sh", path="10-app-role.sh")])),
        VolumeArgs(name="app-role-sql", config_map=ConfigMapVolumeSourceArgs(
            name=config_map, default_mode=0o444, items=[KeyToPathArgs(key=SQL_FILE, path=SQL_FILE)])),
    ]
    mounts = [VolumeMountArgs(name="initdb", mount_path="/docker-entrypoint-initdb.d", read_only=True),
              VolumeMountArgs(name="app-role-sql", mount_path=SQL_MOUNT, read_only=True)]
    return volumes, mounts


def _fingerprint(*parts: str) -> str:
    """A digest of the Job's inputs, passwords included: a new value replaces the Job, so it runs again. Only the
    digest reaches the cluster (the passwords are random 24-byte values, out of reach of a guess)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class AppRoleJobArgs:
    namespace: str
    image: str
    host: pulumi.Input[str]
    database: str
    role: str
    master_username: str
    master_password: pulumi.Input[str]
    app_password: pulumi.Input[str]
    egress_cidrs: list[str]
    """Where the primary's address is: the Job's only egress besides DNS."""
    node_selector: dict[str, str]
    tolerations: list[Taint]
    after: list[pulumi.Resource] = field(default_factory=list)
    """The primary, its database and its master user: the Job runs once they exist."""


class AppRoleJob(pulumi.ComponentResource):
    """EKS / GKE: a namespace of its own (restricted, default deny), the master password in a Secret there, and a
    Job that runs APP_ROLE_SQL against the managed primary."""

    job: k8s.batch.v1.Job

    def __init__(self, name: str, args: AppRoleJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:data:AppRoleJob", name, None, opts)
        ns = args.namespace
        labels = standard_labels("app-role")
        namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata=ObjectMetaArgs(name=ns, labels={
            "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/warn": "restricted",
            "app.kubernetes.io/managed-by": "pulumi"}), opts=pulumi.ResourceOptions(parent=self))
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        secret = k8s.core.v1.Secret(f"{name}-credentials", metadata=ObjectMetaArgs(
            name="app-role-credentials", namespace=ns, labels=labels), type="Opaque",
            string_data={MASTER_PASSWORD_KEY: pulumi.Output.secret(args.master_password),
                         APP_PASSWORD_KEY: pulumi.Output.secret(args.app_password)}, opts=inside)
        script = k8s.core.v1.ConfigMap(f"{name}-sql", metadata=ObjectMetaArgs(
            name="app-role-sql", namespace=ns, labels=labels), data={SQL_FILE: APP_ROLE_SQL}, opts=inside)
        account = k8s.core.v1.ServiceAccount(f"{name}-service-account", metadata=ObjectMetaArgs(
            name="app-role", namespace=ns, labels=labels), automount_service_account_token=False, opts=inside)
        self._policies(name, args, inside)

        def password(key: str) -> EnvVarArgs:
            return EnvVarArgs(name="PGPASSWORD" if key == MASTER_PASSWORD_KEY else "APP_PASSWORD",
                              value_from=EnvVarSourceArgs(secret_key_ref=SecretKeySelectorArgs(
                                  name="app-role-credentials", key=key)))

        # Not a secret itself (a one-way digest): marked secret, it would hide the whole Job spec in the state
        # and the rendered manifests.
        fingerprint = pulumi.Output.unsecret(pulumi.Output.all(args.master_password, args.app_password).apply(
            lambda values: _fingerprint(APP_ROLE_SQL, args.role, args.database, *values)))
        context = SecurityContextArgs(
            run_as_non_root=True, run_as_user=10001, run_as_group=10001, allow_privilege_escalation=False,
            privileged=False, read_only_root_filesystem=True, capabilities=CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"))
        skips = checkov_skips({SECRET_ENV: "psql reads the passwords from PGPASSWORD and \\getenv (never on a command "
                                          "line); the values come from a Secret via secretKeyRef"})
        self.job = k8s.batch.v1.Job(f"{name}-job", metadata=ObjectMetaArgs(
            namespace=ns, labels=labels, name="app-role", annotations=skips), spec=JobSpecArgs(
            backoff_limit=6, active_deadline_seconds=900,
            template=PodTemplateSpecArgs(
                metadata=ObjectMetaArgs(labels=labels, annotations={"checksum/app-role": fingerprint}),
                spec=PodSpecArgs(
                    service_account_name="app-role", automount_service_account_token=False,
                    enable_service_links=False, restart_policy="OnFailure",
                    security_context=PodSecurityContextArgs(
                        run_as_non_root=True, run_as_user=10001, run_as_group=10001, fs_group=10001,
                        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault")),
                    node_selector=dict(args.node_selector),
                    tolerations=[TolerationArgs(key=t.key, operator="Equal", value=t.value, effect=t.effect)
                                 for t in args.tolerations] or None,
                    containers=[ContainerArgs(
                        name="psql", image=args.image,
                        # A tag alone is checked against the registry on every start; a digest cannot move.
                        image_pull_policy="IfNotPresent" if "@sha256:" in args.image else "Always",
                        command=["psql", "--no-psqlrc", *psql_variables(args.role, args.database),
                                 "--file", f"{SQL_MOUNT}/{SQL_FILE}"],
                        env=[EnvVarArgs(name="PGHOST", value=args.host),
                             EnvVarArgs(name="PGPORT", value=str(POSTGRES_PORT)),
                             EnvVarArgs(name="PGDATABASE", value=args.database),
                             EnvVarArgs(name="PGUSER", value=args.master_username),
                             EnvVarArgs(name="PGSSLMODE", value="require"),
                             EnvVarArgs(name="PGCONNECT_TIMEOUT", value="10"),
                             EnvVarArgs(name="HOME", value="/tmp"),
                             password(MASTER_PASSWORD_KEY), password(APP_PASSWORD_KEY)],
                        resources=ResourceRequirementsArgs(
                            requests={"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "16Mi"},
                            limits={"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "64Mi"}),
                        security_context=context,
                        volume_mounts=[VolumeMountArgs(name="sql", mount_path=SQL_MOUNT, read_only=True),
                                       VolumeMountArgs(name="tmp", mount_path="/tmp")],
                    )],
                    volumes=[VolumeArgs(name="sql", config_map=ConfigMapVolumeSourceArgs(name="app-role-sql")),
                             VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs(size_limit="16Mi"))],
                ),
            ),
        ), opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, secret, script, account, *args.after]))
        self.register_outputs({"namespace": ns})

    def _policies(self, name: str, args: AppRoleJobArgs, inside: pulumi.ResourceOptions) -> None:
        """Default deny; the Job may resolve names and reach the primary's port, nothing else."""
        labels = standard_labels("app-role")

        def policy(policy_name: str, spec: NetworkPolicySpecArgs) -> None:
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy_name}", metadata=ObjectMetaArgs(
                name=policy_name, namespace=args.namespace, labels=labels), spec=spec, opts=inside)

        policy("default-deny-all", NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(),
                                                         policy_types=["Ingress", "Egress"]))
        policy("allow-dns-egress", NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(), policy_types=["Egress"],
            egress=[NetworkPolicyEgressRuleArgs(
                to=[NetworkPolicyPeerArgs(
                    namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                    pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}))],
                ports=[NetworkPolicyPortArgs(protocol="UDP", port=53), NetworkPolicyPortArgs(protocol="TCP", port=53)])]))
        policy("app-role-egress-to-postgres", NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(match_labels=selector_labels("app-role")), policy_types=["Egress"],
            egress=[NetworkPolicyEgressRuleArgs(
                to=[NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=cidr)) for cidr in args.egress_cidrs],
                ports=[NetworkPolicyPortArgs(protocol="TCP", port=POSTGRES_PORT)])]))
