#!/usr/bin/env bash
# A real single-node OpenStack on loopback for the tests (docs/federation.md, "The dev OpenStack").
#
#   scripts/openstack-dev.sh up      install (once) and start; reused when already running
#   scripts/openstack-dev.sh status  exit 0 when every service runs and Keystone issues tokens
#   scripts/openstack-dev.sh down    stop what `up` started and remove its state
#
# Keystone, Placement, Nova (fake virt driver), Neutron (ML2, API only), Glance (file store)
# and Cinder (fake volume driver), the 2026.2 release series from PyPI, in their own venv
# (OPENSTACK_VENV, default .cache/openstack-venv; never the project's .venv); MariaDB and
# RabbitMQ from Debian, each with its own data directory and port. State, logs and clouds.yaml
# in OPENSTACK_DEV_DIR (default .cache/openstack); ports OPENSTACK_DEV_PORT (19500) .. +8.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${OPENSTACK_VENV:-$ROOT/.cache/openstack-venv}
export OPENSTACK_DEV_DIR=${OPENSTACK_DEV_DIR:-$ROOT/.cache/openstack}
# One coherent release series (2026.2): bump together.
PACKAGES=(keystone==30.0.0 openstack-placement==16.0.0 nova==34.0.0 neutron==29.0.0
  glance==33.0.0 cinder==29.0.0 uwsgi PyMySQL)
STAMP="$VENV/.infn-dev-installed"

install() {
  local hooks
  hooks=$(cat "$ROOT/scripts/openstack-dev/"{infn_dev_mech.py,infn_fake_virt.py,pyproject.toml} | sha256sum | cut -c1-16)
  if [[ -f $STAMP && $(cat "$STAMP") == "${PACKAGES[*]} $hooks" ]]; then
    return
  fi
  if ! command -v mariadbd >/dev/null || ! command -v eatmydata >/dev/null || [[ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
    echo "openstack-dev: installing mariadb-server and rabbitmq-server (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      mariadb-server mariadb-client rabbitmq-server eatmydata >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends mariadb-server mariadb-client rabbitmq-server eatmydata >/dev/null; }
  fi
  if ! command -v gcc >/dev/null || [[ ! -e /usr/include/python3.11/Python.h ]]; then
    # pip builds uwsgi from source
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc python3-dev >/dev/null
  fi
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  if [[ ! -f $STAMP || $(cut -d' ' -f1-${#PACKAGES[@]} "$STAMP") != "${PACKAGES[*]}" ]]; then
    echo "openstack-dev: installing the OpenStack services into $VENV (a few minutes the first time)"
    "$VENV/bin/pip" install -q --upgrade pip setuptools wheel 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/pip" install -q "${PACKAGES[@]}" 2>&1 | grep -v '^WARNING: Location' || true
  fi
  # the test hooks (fake virt driver, ML2 binder): a package so Neutron finds its entry point
  "$VENV/bin/pip" install -q --no-build-isolation --no-deps "$ROOT/scripts/openstack-dev" 2>&1 |
    grep -v '^WARNING: Location' || true
  rm -rf "$ROOT/scripts/openstack-dev/build" "$ROOT/scripts/openstack-dev/"*.egg-info
  "$VENV/bin/python" -c 'import keystone, nova, neutron, glance, cinder, placement, pymysql, infn_dev_mech' ||
    { echo "openstack-dev: the install in $VENV is incomplete" >&2; exit 1; }
  echo "${PACKAGES[*]} $hooks" >"$STAMP"
}

# One `up`/`down` at a time: a second `up` (e.g. CI's stage after a background `up`) waits for
# the first and then finds the cloud running.
lock() {
  mkdir -p "$ROOT/.cache"
  exec 9>"$ROOT/.cache/openstack-dev.lock"
  flock 9
}

case ${1:-} in
  up)
    lock
    install
    exec "$VENV/bin/python" -W ignore "$ROOT/scripts/openstack-dev/devcloud.py" up
    ;;
  status | down)
    [[ $1 == down ]] && lock
    if [[ ! -x $VENV/bin/python ]]; then
      echo "openstack-dev: not installed ($VENV)"
      [[ $1 == down ]] && exit 0 || exit 1
    fi
    exec "$VENV/bin/python" -W ignore "$ROOT/scripts/openstack-dev/devcloud.py" "$1"
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
