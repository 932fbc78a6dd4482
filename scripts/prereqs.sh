#!/usr/bin/env bash
# Prerequisite checks shared by up-dev.sh and destroy-dev.sh (sourced, not run). Every check runs and every
# problem is listed before anything on the machine is changed; the minimums are the README's.
# Only bash builtins here besides the tools being checked, so it works with a bare PATH.

PULUMI_MIN=3.272.0
KIND_MIN=0.31.0
PYTHON_MIN=3.11.0
# kubectl is supported within one minor version of the cluster (Kubernetes version skew policy); dev runs 1.35.
KUBECTL_MIN=1.34.0
PREREQ_PROBLEMS=()

# version_at_least 3.272.1 3.272.0 -> true. Compares dotted numbers; missing parts count as 0.
version_at_least() {
  local IFS=. i
  local -a have=($1) want=($2)
  for ((i = 0; i < ${#want[@]}; i++)); do
    local h=$((10#${have[i]:-0})) w=$((10#${want[i]:-0}))
    ((h > w)) && return 0
    ((h < w)) && return 1
  done
  return 0
}

# The first x.y[.z] in a tool's version output ("v3.272.0", "kind v0.31.0 go1.25", "Python 3.11.7").
first_version() {
  local text="$1"
  if [[ $text =~ ([0-9]+\.[0-9]+(\.[0-9]+)?) ]]; then
    echo "${BASH_REMATCH[1]}"
  fi
}

# check_version <tool> <minimum> <how to install> <version command...>
check_version() {
  local tool="$1" minimum="$2" install="$3"
  shift 3
  if ! command -v "$tool" >/dev/null 2>&1; then
    PREREQ_PROBLEMS+=("$tool: not on PATH; need $minimum or newer ($install)")
    return
  fi
  local output version
  output="$("$@" 2>&1)" || true
  version="$(first_version "$output")"
  if [[ -z $version ]]; then
    PREREQ_PROBLEMS+=("$tool: could not read its version from \`$*\` (need $minimum or newer)")
  elif ! version_at_least "$version" "$minimum"; then
    PREREQ_PROBLEMS+=("$tool: version $version is too old; need $minimum or newer ($install)")
  fi
}

check_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    PREREQ_PROBLEMS+=("docker: not on PATH (install Docker Desktop or Docker Engine: https://docs.docker.com/get-docker/)")
    return
  fi
  if ! docker info >/dev/null 2>&1; then
    PREREQ_PROBLEMS+=("docker: the Docker daemon is not running or not reachable (start Docker Desktop or \`sudo systemctl start docker\`; \`docker info\` must work)")
  fi
}

check_plain() {
  local tool="$1" why="$2"
  command -v "$tool" >/dev/null 2>&1 || PREREQ_PROBLEMS+=("$tool: not on PATH ($why)")
}

# report_prereqs <what> -> lists every problem and returns 1, or returns 0.
# What both up-dev.sh and destroy-dev.sh need: the Pulumi CLI, a running Docker and kind.
check_cluster_tools() {
  check_version pulumi "$PULUMI_MIN" "https://www.pulumi.com/docs/install/" pulumi version
  check_docker
  check_version kind "$KIND_MIN" "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" kind version
}

report_prereqs() {
  if ((${#PREREQ_PROBLEMS[@]} == 0)); then
    return 0
  fi
  echo "error: $1 needs these fixed first (nothing was changed):" >&2
  local problem
  for problem in "${PREREQ_PROBLEMS[@]}"; do
    echo "  - $problem" >&2
  done
  echo "See README.md, Prerequisites." >&2
  return 1
}

# What Docker must offer the dev stack: `make capacity STACK=dev` (its `## docker:` line) computes it from the
# stack's requests; tests/test_up_dev.py keeps these two numbers equal to that output.
DEV_DOCKER_CPUS=6
DEV_DOCKER_MEMORY_GIB=11

# A warning, not an error: Docker Desktop reports a little less memory than it was given, and a smaller
# host still runs dev at less than max scale.
docker_resources_hint() {
  local info cpus memory_bytes memory_gib
  info="$(docker info --format '{{.NCPU}} {{.MemTotal}}' 2>/dev/null)" || return 0
  read -r cpus memory_bytes <<<"$info"
  [[ $cpus =~ ^[0-9]+$ && $memory_bytes =~ ^[0-9]+$ ]] || return 0
  memory_gib=$((memory_bytes / 1073741824))
  if ((cpus < DEV_DOCKER_CPUS || memory_gib + 1 < DEV_DOCKER_MEMORY_GIB)); then
    echo "warning: Docker has $cpus CPUs and about $memory_gib GiB; the dev stack at max scale needs" \
      "$DEV_DOCKER_CPUS CPUs and $DEV_DOCKER_MEMORY_GIB GiB (make capacity STACK=dev): some pods may stay Pending." >&2
  fi
}
