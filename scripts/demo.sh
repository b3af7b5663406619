#!/usr/bin/env bash
# The main job on the embedded server: install, validate, plan, apply the reviewed plan,
# and plan again to show the server now matches the inventory. Then the runtime: an
# event fires a shipped example automation, and `reconcile receive` shows the signed
# request it sent.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q -e .

# Demo values for the example secrets; in CI they come from the CI's secret store.
export DEPLOY_TOKEN=demo-deploy-token DEPLOY_SIGNING_KEY=demo-signing-key \
  TRACKER_TOKEN=demo-tracker-token GH_DISPATCH_TOKEN=demo-github-token \
  TEAMS_SIGNING_KEY=demo-teams-key \
  SLACK_ML_MODELS_URL=https://hooks.slack.com/services/T000/B000/demo

.venv/bin/reconcile validate automations/
.venv/bin/reconcile plan automations/ --out .reconcile/plan.json
.venv/bin/reconcile apply automations/ --plan .reconcile/plan.json
.venv/bin/reconcile plan automations/ --detailed-exitcode

bash scripts/demo-events.sh
