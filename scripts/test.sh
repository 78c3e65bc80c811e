#!/usr/bin/env bash
# The test command: sets the machine up (scripts/setup.sh), then runs every check in order
# and prints a summary. CI (.ci/run) calls exactly this.
#
# Usage: scripts/test.sh [STAGE...]
#   stages: lint unit sanity molecule integration   (default: all, in this order)
#   MOLECULE_SCENARIOS="common/default htcondor/default" limits the molecule stage;
#   MOLECULE_JOBS (default 2) scenarios run side by side, each logging to .cache/test-logs/.
set -uo pipefail
cd "$(dirname "$0")/.."

all_stages=(lint unit sanity molecule integration)
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

pytest_allow_empty() {  # pytest exits 5 when it collected nothing: not a failure here
  pytest "$@"
  local rc=$?
  [ $rc -eq 5 ] && { echo "(no tests collected)"; return 0; }
  return $rc
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

for stage in "${stages[@]}"; do
  case $stage in
    lint)
      step "ruff check" ruff check .
      step "ruff format" ruff format --check .
      step "yamllint" yamllint --strict .
      step "ansible-lint (production)" ansible-lint
      ;;
    unit) step "pytest unit" pytest_allow_empty tests/unit ;;
    sanity) step "ansible-test sanity" sanity ;;
    molecule) molecule_all ;;
    integration) step "pytest integration" pytest_allow_empty -m integration --durations=0 tests/integration ;;
  esac
done

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
