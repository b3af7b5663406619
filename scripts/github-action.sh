#!/usr/bin/env bash
# The composite action's main step (action.yml): run one reconcile command with the
# action's inputs (INPUT_* variables) and write its outputs to GITHUB_OUTPUT.
# Secrets (WANDB_API_KEY, the inventory's secret values) come from the environment only.
set -uo pipefail

outputs="${GITHUB_OUTPUT:-/dev/null}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
work="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
read -r -a paths <<< "${INPUT_PATHS:-}"
server=()
if [ -n "${INPUT_SERVER:-}" ]; then server=(--server "$INPUT_SERVER"); fi
inventory=()  # the inventory of reconcile.yaml, when the env input names one
if [ -n "${INPUT_ENV:-}" ]; then inventory=(--env "$INPUT_ENV"); fi

output() { echo "$1=$2" >> "$outputs"; }

plan_field() {  # plan_field FILE KEY: one field of a JSON plan, booleans as true/false
  python -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"
}

run_validate() {
  reconcile validate "${paths[@]}" "${inventory[@]}" --format github
}

run_plan() {
  local plan_file="${INPUT_PLAN_FILE:-$work/reconcile-plan.json}" code
  local markdown="$work/reconcile-plan.md" errors="$work/reconcile-plan.err"
  rm -f "$plan_file"
  reconcile plan "${paths[@]}" "${inventory[@]}" "${server[@]}" --out "$plan_file" --format markdown \
    --detailed-exitcode > "$markdown" 2> "$errors"
  code=$?
  cat "$errors" >&2
  if [ -f "$plan_file" ]; then  # a plan, possibly with conflicts (exit 1)
    output plan-file "$plan_file"
    output fingerprint "$(plan_field "$plan_file" fingerprint)"
    output has_changes "$(plan_field "$plan_file" has_changes)"
    cat "$markdown" >> "$summary"
  else
    output error-file "$errors"
    { echo '**reconcile plan failed**'; echo; echo '```'; cat "$errors"; echo '```'; } >> "$summary"
  fi
  if [ "$code" = 2 ] && [ "${INPUT_DETAILED_EXITCODE:-false}" != true ]; then code=0; fi
  return "$code"
}

run_apply() {
  local how=()
  if [ -n "${INPUT_FINGERPRINT:-}" ]; then how=(--fingerprint "$INPUT_FINGERPRINT")
  elif [ -n "${INPUT_PLAN_FILE:-}" ]; then how=(--plan "$INPUT_PLAN_FILE")
  else
    echo "::error::apply needs the reviewed plan: the fingerprint or plan-file input" >&2
    return 2
  fi
  if [ "${INPUT_FORCE:-false}" = true ]; then how+=(--force); fi
  local report="$work/reconcile-apply.txt" code
  reconcile apply "${paths[@]}" "${inventory[@]}" "${server[@]}" "${how[@]}" > "$report" 2>&1
  code=$?
  cat "$report"
  { echo '### reconcile apply'; echo; echo '```'; cat "$report"; echo '```'; } >> "$summary"
  return "$code"
}

run_roots() {  # the inventories the event's change touches: it writes the roots output
  reconcile github roots
}

case "${INPUT_COMMAND:-}" in
  validate) run_validate ;;
  roots) run_roots ;;
  plan) run_plan ;;
  apply) run_apply ;;
  *) echo "::error::the command input must be validate, plan, apply or roots, not '${INPUT_COMMAND:-}'" >&2
     (exit 2) ;;
esac
code=$?
output exit-code "$code"
exit "$code"
