#!/usr/bin/env bash
# podman with the flags this kind of sandbox needs (root, no systemd, cgroup v1+v2 hybrid; see
# ../shared/ops/oci-recipe.sh for what failed without them):
#   --runtime runc            crun, podman's default, cannot set rlimits or use hybrid cgroups here
#   --cgroup-manager=cgroupfs no systemd to ask for cgroups
#   explicit low ulimits      the defaults (and "host") are refused: "error setting rlimit ... not permitted"
# Usage: bash deploy/image/podman.sh <podman arguments...>   (the ulimits are added to build, run and create)
# Override on machines where podman works as shipped: SALESFLOW_PODMAN_RUNTIME=crun, SALESFLOW_PODMAN_CGROUPS=systemd.
set -euo pipefail
runtime=${SALESFLOW_PODMAN_RUNTIME:-runc}
cgroups=${SALESFLOW_PODMAN_CGROUPS:-cgroupfs}
ulimits=(--ulimit "nofile=${SALESFLOW_PODMAN_NOFILE:-4096}:${SALESFLOW_PODMAN_NOFILE:-4096}" --ulimit nproc=4096:4096)
if [[ $# -gt 0 && ( $1 == build || $1 == run || $1 == create ) ]]; then
  command=$1; shift
  exec podman --runtime "$runtime" --cgroup-manager="$cgroups" "$command" "${ulimits[@]}" "$@"
fi
exec podman --runtime "$runtime" --cgroup-manager="$cgroups" "$@"
