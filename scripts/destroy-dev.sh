#!/usr/bin/env bash
# Remove everything up-dev.sh made: the dev stack's resources (`pulumi destroy`), the stack itself, the kind
# cluster (also when a failed `up` left it behind) and the local state backend `.state/`.
# Checks its tools first and changes nothing unless they are all there.
set -euo pipefail
# The repository root, without dirname (the prerequisite check must work on a bare PATH).
script_dir="${BASH_SOURCE[0]%/*}"
[[ $script_dir == "${BASH_SOURCE[0]}" ]] && script_dir=.
cd "$script_dir/.."
# shellcheck source=scripts/prereqs.sh
source scripts/prereqs.sh

check_cluster_tools
report_prereqs "make destroy-dev" || exit 1

default_backend="file://$PWD/.state"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-$default_backend}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-dev-only-passphrase}"
# The cluster's name: the `name:` key directly under `browser-platform:cluster:` in the stack file.
cluster="$(sed -n '/^  browser-platform:cluster:/,/^  [^ ]/ s/^    name: *"\{0,1\}\([A-Za-z0-9-]*\)"\{0,1\} *$/\1/p' Pulumi.dev.yaml)"

if pulumi stack select dev --non-interactive >/dev/null 2>&1; then
  pulumi destroy --stack dev --yes
  pulumi stack rm dev --yes
else
  echo "no dev stack in $PULUMI_BACKEND_URL; nothing to destroy there"
fi
if [[ -n $cluster ]] && kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind delete cluster --name "$cluster"
fi
# Only the state this project created; a backend the user pointed elsewhere is theirs.
if [[ $PULUMI_BACKEND_URL == "$default_backend" ]]; then
  rm -rf .state
fi
echo "dev removed: stack, kind cluster ${cluster:-?}, .state/"
