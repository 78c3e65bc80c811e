#!/usr/bin/env bash
# Run ee/check/plan.yml inside the execution environment image the way AWX runs a job:
# ansible-runner with process isolation in a container (podman), a private data dir with
# project/ and inventory/. The playbook plans single_vm (infn.cloud.tosca_plan) and chooses a
# site (infn.cloud.site_select) from the collection and package inside the image.
#   scripts/check-ee.sh [IMAGE]      default localhost/infn-cloud-ee:latest
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:-localhost/infn-cloud-ee:latest}"
runner="${PYTHON:-.venv/bin/python}"
private="$(mktemp -d)"
trap 'rm -rf "$private"' EXIT
mkdir -p "$private/project" "$private/inventory"
cp ee/check/plan.yml "$private/project/plan.yml"
echo "localhost ansible_connection=local" >"$private/inventory/hosts"
# The image runs as uid 1000; with rootful podman the private data dir is root's, so the
# job container runs as root here (AWX gives the job a writable volume instead).
"$(dirname "$runner")/ansible-runner" run "$private" -p plan.yml --process-isolation \
  --process-isolation-executable podman --container-image "$image" --container-option=--user=0
