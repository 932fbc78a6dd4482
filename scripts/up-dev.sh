#!/usr/bin/env bash
# Deploy the dev stack on a local kind cluster: local state backend, a dev-only passphrase, no cloud account.
# Checks every prerequisite first (Pulumi CLI, Docker and its daemon, kind, kubectl, Python 3.11+, openssl),
# lists every missing or old tool at once, and changes nothing on this machine until all are there.
set -euo pipefail
# The repository root, without dirname (the prerequisite check must work on a bare PATH).
script_dir="${BASH_SOURCE[0]%/*}"
[[ $script_dir == "${BASH_SOURCE[0]}" ]] && script_dir=.
cd "$script_dir/.."
# shellcheck source=scripts/prereqs.sh
source scripts/prereqs.sh

check_cluster_tools
check_version kubectl "$KUBECTL_MIN" "https://kubernetes.io/docs/tasks/tools/" kubectl version --client
# Pulumi runs the program in ./venv, which it creates with python3 (Pulumi.yaml: toolchain pip).
check_version python3 "$PYTHON_MIN" "https://www.python.org/downloads/" python3 --version
check_plain openssl "generates the dev stack's secrets on first run"
report_prereqs "./scripts/up-dev.sh" || exit 1
docker_resources_hint

export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.state}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-dev-only-passphrase}"
mkdir -p .state

pulumi stack select dev --create --non-interactive
# Secrets live only in Pulumi's encrypted config; dev gets random ones on first run.
for key in $(sed -n 's/^dev: *\[\(.*\)\]$/\1/p' offline/stack-secrets.yaml | tr ',' ' '); do
  if ! pulumi config get "$key" --stack dev >/dev/null 2>&1; then
    pulumi config set --secret "$key" "$(openssl rand -hex 24)" --stack dev
  fi
done
pulumi up --stack dev --yes "$@"
