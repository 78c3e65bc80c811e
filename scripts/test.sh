#!/usr/bin/env bash
# The test command: sets the machine up (scripts/setup.sh), then runs every check in order
# and prints a summary. CI (.ci/run) calls exactly this.
#
# Usage: scripts/test.sh [STAGE...]
#   stages: lint unit sanity molecule integration openstack   (default: all, in this order)
#   openstack: a real single-node OpenStack (scripts/openstack-dev.sh: Keystone, Placement, Nova with
#   the fake virt driver, Neutron, Glance, Cinder) and the openstack driver's tests against it; its
#   `up` (install + start, about 5 minutes) runs in the background from the start of the run, and
#   with the integration stage in the run, its tests run in the background during that stage.
#   MOLECULE_SCENARIOS="common/default htcondor/default" limits the molecule stage;
#   MOLECULE_JOBS (default 2) scenarios run side by side, each logging to .cache/test-logs/.
#
# CI=true (CI services set it; .ci/run too): nothing may be skipped. A missing prerequisite
# (podman, a test image, OpenBao's bao, the INFN reference directory, ...) fails its test and
# stage instead of skipping it (tests/prereq.py, tests/conftest.py), a pytest stage that
# collected no test fails, and so does one whose summary lists a skipped test.
# INFN_CLOUD_REFERENCE_DIR is exported: the first existing of $INFN_CLOUD_REFERENCE_DIR,
# ../shared/reference (next to the checkout) and /work/shared/reference.
set -uo pipefail
cd "$(dirname "$0")/.."

all_stages=(lint unit sanity molecule integration openstack)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${all_stages[@]}")
for s in "${stages[@]}"; do
  [[ " ${all_stages[*]} " == *" $s "* ]] || { echo "test: unknown stage '$s' (expected: ${all_stages[*]})" >&2; exit 64; }
done

scripts/setup.sh || { echo "test: setup failed" >&2; exit 1; }
# shellcheck disable=SC1091
. .venv/bin/activate
export ANSIBLE_COLLECTIONS_PATH="$PWD/.ansible/collections"
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 NO_COLOR=1

passed=0 failed=0 results=()

# The dev OpenStack takes minutes to install and start, mostly waiting on pip and its databases:
# start it now, in the background, when the openstack stage will run; the stage's own `up` waits
# for it (a lock) and reuses the running cloud.
mkdir -p .cache/test-logs
if [[ " ${stages[*]} " == *" openstack "* ]]; then
  echo "=== dev OpenStack: starting in the background (log: .cache/test-logs/openstack-up.log)"
  scripts/openstack-dev.sh up >.cache/test-logs/openstack-up.log 2>&1 &
fi
step() {  # step NAME COMMAND...: run one check, record its outcome and duration
  local name=$1 start rc
  shift
  echo "=== $name"
  start=$(date +%s)
  "$@"
  rc=$?
  local took=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); results+=("ok      ${took}s  $name")
  else
    failed=$((failed + 1)); results+=("FAILED  ${took}s  $name (exit $rc)")
  fi
}

ci() { case "${CI:-}" in 1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss]) return 0 ;; *) return 1 ;; esac; }

# INFN's reference templates and types (tests/unit/tosca/test_reference.py validates and plans
# all 32 templates with them).
for dir in "${INFN_CLOUD_REFERENCE_DIR:-}" ../shared/reference /work/shared/reference; do
  if [ -n "$dir" ] && [ -d "$dir/infn-tosca-templates" ] && [ -d "$dir/infn-tosca-types" ]; then
    INFN_CLOUD_REFERENCE_DIR=$(cd "$dir" && pwd)
    export INFN_CLOUD_REFERENCE_DIR
    break
  fi
done

reference_present() {
  if [ -n "${INFN_CLOUD_REFERENCE_DIR:-}" ] && [ -d "$INFN_CLOUD_REFERENCE_DIR/infn-tosca-templates" ]; then
    echo "INFN reference directory: $INFN_CLOUD_REFERENCE_DIR"
    return 0
  fi
  echo "test: the INFN reference directory is missing (looked at \$INFN_CLOUD_REFERENCE_DIR," \
    "../shared/reference and /work/shared/reference for infn-tosca-templates/ and infn-tosca-types/);" \
    "under CI=true its tests may not be skipped" >&2
  return 1
}

pytest_stage() {  # pytest_stage ARGS...: pytest; under CI=true "nothing ran" and skips are failures
  local log rc
  log=$(mktemp)
  pytest "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 5 ]; then
    if ci; then
      echo "test: pytest collected no test (exit 5): under CI=true a stage that ran nothing fails" >&2
    else
      echo "(no tests collected)"
      rc=0
    fi
  elif [ "$rc" -eq 0 ] && ci && grep -q "^SKIPPED" "$log"; then
    echo "test: tests were skipped (listed above): under CI=true every test must run" >&2
    rc=1
  fi
  rm -f "$log"
  return "$rc"
}

sanity() {  # ansible-test needs the collection at .../ansible_collections/infn/cloud
  local dir pip_version
  pip_version=$(python -c 'from ansible_test._internal.python_requirements import PIP_VERSION as v; print(v.replace(".", "_"))' 2>/dev/null || echo 24_2)
  mkdir -p ~/.ansible/test/cache
  [ -f ~/.ansible/test/cache/get_pip_"$pip_version".py ] || cp scripts/ansible-test-get-pip.py ~/.ansible/test/cache/get_pip_"$pip_version".py
  dir=$(mktemp -d)
  mkdir -p "$dir/ansible_collections/infn"
  git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- . "$dir/ansible_collections/infn/cloud/"
  (cd "$dir/ansible_collections/infn/cloud" && ansible-test sanity --venv --requirements --python 3.11 --color no "${SANITY_ARGS[@]}")
  local rc=$?
  rm -rf "$dir"
  return $rc
}
# pylint adds ~10 minutes on 2 cores and ruff covers its checks for our code.
SANITY_ARGS=(--skip-test pylint)

molecule_one() {  # molecule_one ROLE/SCENARIO LOG: full molecule test, output to LOG
  local role=${1%%/*} name=${1#*/}
  (cd "roles/$role" && molecule test -s "$name") >"$2" 2>&1
}

molecule_all() {
  # Scenarios spend much of their time waiting on apt and systemd, so two run side by side
  # (MOLECULE_JOBS); container and network names are unique per scenario.
  local jobs=${MOLECULE_JOBS:-2} logs=.cache/test-logs scenario
  local -a scenarios
  mkdir -p "$logs"
  read -r -a scenarios <<< "${MOLECULE_SCENARIOS:-$(cd roles && ls -d */molecule/*/ | sed 's|/molecule/|/|; s|/$||' | tr '\n' ' ')}"
  for scenario in "${scenarios[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    echo "=== molecule $scenario (started $(date +%T), log: $logs/${scenario//\//-}.log)"
    ( start=$(date +%s); molecule_one "$scenario" "$logs/${scenario//\//-}.log"; rc=$?
      echo "$rc $(( $(date +%s) - start ))" > "$logs/${scenario//\//-}.rc" ) &
  done
  wait
  for scenario in "${scenarios[@]}"; do
    local log="$logs/${scenario//\//-}.log" rc took
    read -r rc took < "$logs/${scenario//\//-}.rc"
    if [ "$rc" -eq 0 ]; then
      passed=$((passed + 1)); results+=("ok      ${took}s  molecule $scenario")
      grep -E "passed|failed" "$log" | grep -E "^[^a-z]*=+ .* in [0-9.]+s" | tail -n 1
    else
      failed=$((failed + 1)); results+=("FAILED  ${took}s  molecule $scenario (exit $rc)")
      echo "=== molecule $scenario failed; last lines of $log:"
      tail -n 150 "$log"
    fi
  done
}

openstack_stage() {  # the openstack stage's three steps; non-zero if any failed
  local rc=0
  step "dev OpenStack up" scripts/openstack-dev.sh up || rc=1
  step "pytest openstack" pytest_stage -ra -m integration --durations=0 tests/integration/openstack || rc=1
  step "dev OpenStack down" scripts/openstack-dev.sh down || rc=1
  printf '%s\n' "${results[@]}" >"$logs_dir/openstack.results"
  return $rc
}

# The openstack tests mostly wait on the dev cloud's services, the integration tests mostly on
# apt and systemd in containers: with both stages requested, the openstack stage runs in the
# background during the integration stage (its output is printed when it ends).
logs_dir=.cache/test-logs
openstack_pid=
openstack_in_background() {
  echo "=== openstack: running in the background from $(date +%T) (log: $logs_dir/openstack-stage.log)"
  ( results=(); openstack_stage >"$logs_dir/openstack-stage.log" 2>&1 ) &
  openstack_pid=$!
}
openstack_collect() {
  local rc=0
  wait "$openstack_pid" || rc=$?
  echo "=== openstack (ran in the background; exit $rc)"
  cat "$logs_dir/openstack-stage.log"
  local line
  while IFS= read -r line; do
    results+=("$line")
    if [[ $line == ok* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done <"$logs_dir/openstack.results"
}

for stage in "${stages[@]}"; do
  case $stage in
    lint)
      step "ruff check" ruff check .
      step "ruff format" ruff format --check .
      step "yamllint" yamllint --strict .
      step "ansible-lint (production)" ansible-lint
      # Our catalogue is warning-free: --strict turns warnings into errors; the JUnit report is
      # what a template repository's CI would publish.
      step "validate catalogue (--strict)" infn-cloud validate --strict --junit .cache/test-logs/validate-catalogue.xml tosca_templates
      ;;
    unit)
      if ci || [ -n "${INFN_CLOUD_REFERENCE_DIR:-}" ]; then step "INFN reference directory" reference_present; fi
      step "pytest unit" pytest_stage -ra tests/unit
      ;;
    sanity) step "ansible-test sanity" sanity ;;
    molecule) molecule_all ;;
    # --durations=0: every test's setup/call/teardown time (deploys happen in module fixtures).
    integration)
      if [[ " ${stages[*]} " == *" openstack "* ]]; then openstack_in_background; fi
      step "pytest integration" pytest_stage -ra -m integration --durations=0 --ignore=tests/integration/openstack tests/integration
      ;;
    openstack)
      if [ -n "$openstack_pid" ]; then
        openstack_collect
      else
        openstack_stage
      fi
      ;;
  esac
done

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
