#!/usr/bin/env bash
# Deploy the dev stack on a local kind cluster: local state backend, a dev-only passphrase, no cloud account.
# Needs the Pulumi CLI, Docker, kind and kubectl on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.state}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-dev-only-passphrase}"
mkdir -p .state

for tool in pulumi docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is not on PATH (see README: prerequisites)" >&2; exit 1; }
done

pulumi stack select dev --create --non-interactive
# Secrets live only in Pulumi's encrypted config; dev gets random ones on first run.
for key in $(sed -n 's/^dev: *\[\(.*\)\]$/\1/p' offline/stack-secrets.yaml | tr ',' ' '); do
  if ! pulumi config get "$key" --stack dev >/dev/null 2>&1; then
    pulumi config set --secret "$key" "$(openssl rand -hex 24)" --stack dev
  fi
done
pulumi up --stack dev --yes "$@"
