#!/usr/bin/env bash
# One stage of the Jenkins pipeline (examples/jenkins/Jenkinsfile), runnable by hand too:
#
#   stage.sh validate          every template of $TEMPLATES_DIR, strict, JUnit report
#   stage.sh plan              plan every template: invalid (2) fails, no site (4) fails
#   stage.sh deploy TEMPLATE   deploy on $DEPLOY_SITE, id in reports/deployment-id
#   stage.sh delete            delete the deployment named in reports/deployment-id (if any)
#
# Environment: INFN_CLOUD (the infn-cloud command, default: infn-cloud on PATH),
# TEMPLATES_DIR (default: tosca_templates), DEPLOY_SITE (default: LOCAL-BACKBONE),
# REPORTS (default: reports). The CLI's exit codes decide: 0 ok, 1 failed, 2 invalid,
# 3 not found, 4 no site, 64 usage, 70 internal error.
set -euo pipefail
cli="${INFN_CLOUD:-infn-cloud}"
templates="${TEMPLATES_DIR:-tosca_templates}"
site="${DEPLOY_SITE:-LOCAL-BACKBONE}"
reports="${REPORTS:-reports}"
mkdir -p "$reports"

json_field() {  # json_field FILE KEY: one top-level string field of a JSON file
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or "")' "$1" "$2"
}

case "${1:-}" in
  validate)
    # one testcase per template in the JUnit report; exit 2 when any template is invalid
    "$cli" validate --strict --junit "$reports/validate.xml" --json "$templates" >"$reports/validate.json"
    ;;
  plan)
    failed=0
    for template in "$templates"/*.yaml; do
      name="$(basename "$template" .yaml)"
      rc=0
      "$cli" plan "$template" --json >"$reports/plan-$name.json" 2>"$reports/plan-$name.err" || rc=$?
      case "$rc" in
        0) echo "plan $name: site $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["selection"]["chosen"]["site"])' "$reports/plan-$name.json")" ;;
        4) echo "plan $name: no site can host it (exit 4)"; cat "$reports/plan-$name.err"; failed=1 ;;
        *) echo "plan $name: failed with exit $rc"; cat "$reports/plan-$name.err"; failed=1 ;;
      esac
    done
    exit "$failed"
    ;;
  deploy)
    template="${2:?usage: stage.sh deploy TEMPLATE}"
    rc=0
    "$cli" deploy "$template" --site "$site" --json --quiet >"$reports/deploy.json" || rc=$?
    id="$(json_field "$reports/deploy.json" id)"
    # the id is kept even when the deploy failed: the delete stage cleans up after it
    [ -n "$id" ] && echo "$id" >"$reports/deployment-id"
    echo "deploy $template: exit $rc, deployment ${id:-none}"
    exit "$rc"
    ;;
  delete)
    if [ ! -s "$reports/deployment-id" ]; then
      echo "nothing to delete"
      exit 0
    fi
    id="$(cat "$reports/deployment-id")"
    "$cli" delete "$id" --json --quiet >"$reports/delete.json"
    rm -f "$reports/deployment-id"
    echo "deleted $id"
    ;;
  *)
    echo "usage: stage.sh validate | plan | deploy TEMPLATE | delete" >&2
    exit 64
    ;;
esac
