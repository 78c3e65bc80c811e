#!/usr/bin/env bash
# Build the execution environment image with podman (docs/awx.md, "Execution environment").
#   scripts/build-ee.sh [TAG]      default tag localhost/infn-cloud-ee:latest
# Steps: the wheel and the Galaxy tarball into ee/dist/, the base image from
# localhost/debian:bookworm (ee/base), then ansible-builder build (context in build/ee-context).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-localhost/infn-cloud-ee:latest}"
python="${PYTHON:-.venv/bin/python}"
rm -rf ee/dist build/ee-context
mkdir -p ee/dist
"$python" -m pip wheel --quiet --no-deps -w ee/dist .
"$(dirname "$python")/ansible-galaxy" collection build --force --output-path ee/dist . >/dev/null
podman build -t localhost/infn-cloud-ee-base:bookworm ee/base
"$(dirname "$python")/ansible-builder" build -f execution-environment.yml -t "$tag" \
  --container-runtime podman --context build/ee-context -v 2
echo "built $tag"
