#!/usr/bin/env bash
# The main job, end to end on this machine: set up, deploy an HTCondor cluster on the local
# site (podman containers with systemd), print its outputs, run a job on it, and show how to
# delete it. The deployment is left running; the last line is the delete command.
#
# Usage (as root, from anywhere): scripts/demo.sh [--skip-setup]
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

if [ "${1:-}" != "--skip-setup" ]; then
  say "Setup (idempotent): packages, .venv, collection link, local images"
  scripts/setup.sh
fi
# shellcheck disable=SC1091
. .venv/bin/activate

say "Where would it go? (dry run)"
infn-cloud plan htcondor_cluster

say "Deploy tosca_templates/htcondor_cluster.yaml on the local site"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
infn-cloud deploy htcondor_cluster --json > "$out"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$out")
cm=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"]["cm_server"][0]["name"])' "$out")
infn-cloud show "$id"

say "Outputs (secret values only with --show-secrets)"
infn-cloud outputs "$id"

say "Use it: submit a job as an ordinary user on the central manager / submit node"
podman exec "$cm" bash -c '
  id -u demo >/dev/null 2>&1 || useradd -m demo
  cd /home/demo
  printf "executable = /bin/hostname\noutput = out.txt\nerror = err.txt\nlog = job.log\nqueue\n" > job.sub
  chown demo job.sub
  su demo -c "condor_submit job.sub && condor_q"
  for _ in $(seq 60); do [ -s out.txt ] && break; sleep 3; done
  echo "the job ran on: $(cat out.txt 2>/dev/null || echo "(not finished yet: podman exec '"$cm"' condor_q)")"
  condor_status
'

say "The deployment is running. Inspect it with:"
echo "  infn-cloud list; infn-cloud show $id; infn-cloud logs $id"
echo "  podman exec -it $cm bash     # then: su - demo; condor_q"
say "Delete it with:"
echo "infn-cloud delete $id"
