#!/usr/bin/env bash
# One-time (idempotent) setup of a Debian/Ubuntu machine for infn.cloud, run as root:
# system packages, a virtualenv with the project and its tools in .venv, the collection link
# that lets ansible find infn.cloud.*, and the podman test host images.
#
# Usage: scripts/setup.sh [--no-images]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { echo "setup: error: run as root (apt-get, podman and debootstrap need it)" >&2; exit 1; }

# openssh-client: ssh and ssh-agent, how Ansible reaches local-site nodes and VMs.
# busybox-static: the tiny image the run_docker/docker_compose end-to-end tests build (no registry).
apt_packages=(podman runc debootstrap uidmap slirp4netns rsync git openssl python3-venv openssh-client busybox-static tmux)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: error: Python >= 3.11 required ($python is $("$python" -V 2>&1))" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  log "creating virtualenv .venv"
  "$python" -m venv .venv
fi
# Reinstall only when the dependency list changed.
stamp=.venv/.infn-cloud-deps
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing infn-cloud and its development tools into .venv (a few minutes the first time)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import infn_cloud, molecule, ansible_runner' \
    || { echo "setup: error: pip install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
.venv/bin/python -c 'from infn_cloud.paths import ensure_collection_link; print("setup: collection linked at", ensure_collection_link())' >&2

if [ "${1:-}" != "--no-images" ]; then
  scripts/test-hosts.sh
fi
