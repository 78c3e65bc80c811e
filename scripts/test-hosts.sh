#!/usr/bin/env bash
# Test hosts: podman containers with systemd standing in for VMs.
#
# Configures podman for this machine (runc, ulimits) and builds localhost/debian:bookworm and
# localhost/debian:trixie with debootstrap: systemd as PID 1, python3, sudo and this host's CA
# bundle (TLS to package registries is intercepted by a local CA here). An image is reused
# while its recipe hash (this file + the CA bundle) matches the label stored on it, and
# rebuilt when the recipe changes.
#
# Usage: scripts/test-hosts.sh [--force] [SUITE...]     (default suites: bookworm trixie)
# Used by molecule scenarios and by the `local` site driver.
set -euo pipefail

die() { echo "test-hosts: error: $*" >&2; exit 1; }
log() { echo "test-hosts: $*" >&2; }

force=0
suites=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    bookworm|trixie) suites+=("$arg") ;;
    *) die "unknown argument '$arg' (expected --force, bookworm or trixie)" ;;
  esac
done
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and rootful podman need it); try: sudo $0"
command -v podman >/dev/null || die "podman is not installed (apt-get install podman runc)"
command -v runc >/dev/null || die "runc is not installed (apt-get install runc); crun fails on this kernel's cgroups"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -r "$ca_bundle" ] || die "host CA bundle $ca_bundle not found (apt-get install ca-certificates)"

workdir=${INFN_CLOUD_IMAGE_WORKDIR:-/var/tmp/infn-cloud-images}
mkdir -p "$workdir"
free_mb=$(df -Pm "$workdir" | awk 'NR==2 {print $4}')
[ "$free_mb" -ge 2048 ] || die "only ${free_mb} MiB free in $workdir; building an image needs 2 GiB"

# Podman on this kind of host: crun cannot handle hybrid cgroups; the default nofile ulimit
# cannot be raised inside the sandbox.
conf_dir=/etc/containers/containers.conf.d
mkdir -p "$conf_dir"
conf="$conf_dir/50-infn-cloud.conf"
want_conf='# Written by infn.cloud scripts/test-hosts.sh
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want_conf" ]; then
  printf '%s\n' "$want_conf" > "$conf"
  log "configured podman: $conf"
fi

# Debian mirror as configured for apt on this host.
mirror=${INFN_CLOUD_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -rhoE '^(URIs:|deb) +[^ ]*https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?' | head -n1 || true)
fi
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

packages=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,ca-certificates,iproute2,procps,gnupg,openssh-server
recipe_hash=$( { cat "$0"; cat "$ca_bundle"; } | sha256sum | cut -c1-16)

build() {
  local suite=$1 image="localhost/debian:$1"
  if [ "$force" -eq 0 ] && podman image exists "$image"; then
    local have
    have=$(podman image inspect --format '{{ index .Labels "org.infn.cloud.recipe" }}' "$image" 2>/dev/null || true)
    if [ "$have" = "$recipe_hash" ]; then
      log "$image is up to date (recipe $recipe_hash), reusing it"
      return 0
    fi
    log "$image has recipe '${have:-none}', want $recipe_hash: rebuilding"
  fi
  local rootfs="$workdir/$suite" start end
  start=$(date +%s)
  rm -rf "$rootfs"
  log "debootstrap $suite from $mirror (about a minute)"
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$workdir/$suite.log" 2>&1 \
    || die "debootstrap $suite failed; see $workdir/$suite.log"
  # The local CA must survive update-ca-certificates runs inside the container.
  install -m 0644 "$ca_bundle" "$rootfs/usr/local/share/ca-certificates/infn-cloud-host-bundle.crt"
  install -m 0644 "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$rootfs/etc/pip.conf"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' > "$rootfs/etc/npmrc"
  # A container is not a VM: no getty on consoles, no kernel tunables, no udev.
  for unit in getty@tty1.service console-getty.service systemd-udevd.service \
      systemd-udev-trigger.service systemd-sysctl.service systemd-modules-load.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  : > "$rootfs/etc/machine-id"
  # Like a cloud image: no SSH host keys in the image; every container makes its own on first
  # boot (cloud-init does this on a VM), so two nodes never share a host key.
  rm -f "$rootfs"/etc/ssh/ssh_host_*
  cat > "$rootfs/etc/systemd/system/infn-cloud-ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate this node's SSH host keys (first boot)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
  mkdir -p "$rootfs/etc/systemd/system/multi-user.target.wants"
  ln -sf ../infn-cloud-ssh-host-keys.service \
    "$rootfs/etc/systemd/system/multi-user.target.wants/infn-cloud-ssh-host-keys.service"
  # Ship no package lists, like a cloud image: the old mtime makes `apt: cache_valid_time`
  # see the cache as stale and refresh it on first use.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  touch -d '2000-01-01' "$rootfs/var/lib/apt/lists"
  tar -C "$rootfs" -c . | podman import \
    --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL org.infn.cloud.recipe=$recipe_hash" \
    --change "LABEL org.infn.cloud.suite=$suite" - "$image" >"$workdir/$suite-import.log" 2>&1 \
    || die "podman import of $image failed; see $workdir/$suite-import.log"
  rm -rf "$rootfs"
  end=$(date +%s)
  size=$(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MiB", $1/1048576}')
  echo "built $image in $((end - start)) s, size $size (recipe $recipe_hash)"
}

for suite in "${suites[@]}"; do
  build "$suite"
done
