#!/usr/bin/env bash
# The demo's runtime part (run by scripts/demo.sh, after apply): an event fires a shipped
# example automation, and `reconcile receive` shows the signed request it sent.
#
# The example webhook deploy-pipeline points at deploy.example.com; here a copy of the
# inventory reads its URL from DEMO_WEBHOOK_URL instead (the inventory's
# `url: {from_env: VAR}`) and is applied to a database of its own,
# .reconcile/demo-events.db, so the examples and .reconcile/server.db stay as they are.
# Then a training script (scripts/demo-train.py, the unmodified wandb SDK) runs against
# `reconcile serve` over the same database, and its run fires route-to-production.
# Needs the example secrets' variables set (scripts/demo.sh sets demo values);
# RECONCILE names the command [default: .venv/bin/reconcile], PYTHON the interpreter
# with wandb [default: .venv/bin/python; wandb 0.31 is installed there when missing].
set -euo pipefail
cd "$(dirname "$0")/.."
reconcile=${RECONCILE:-.venv/bin/reconcile}
python=${PYTHON:-.venv/bin/python}
: "${DEPLOY_TOKEN:?}" "${DEPLOY_SIGNING_KEY:?}"

demo=.reconcile/demo
rm -rf "$demo" && mkdir -p "$demo"
cp -R automations "$demo/automations"
team="$demo/automations/examples/team.yaml"
# The other example webhooks point at the receiver too (DEMO_OTHER_URL), so that what
# the demo's model fires (a new version, a registry link) stays on this machine.
sed -e 's#^    url: https://deploy.example.com/hooks/wandb$#    url: {from_env: DEMO_WEBHOOK_URL}#' \
  -e 's#^    url: https://.*$#    url: {from_env: DEMO_OTHER_URL}#' \
  automations/examples/team.yaml >"$team"
grep -q 'from_env: DEMO_WEBHOOK_URL' "$team" || { echo "demo: deploy-pipeline URL not found" >&2; exit 1; }

# A receiver on a free loopback port that checks the token and the signature; the
# trap stops it however this script ends.
PYTHONUNBUFFERED=1 "$reconcile" receive --port 0 \
  --secret-env DEPLOY_SIGNING_KEY --token-env DEPLOY_TOKEN >"$demo/receive.log" 2>&1 &
receiver=$!
server=
trap 'kill "$receiver" $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q '^listening on' "$demo/receive.log" && break
  sleep 0.1
done
url=$(sed -n 's#^listening on \(http://[^ ]*\) .*#\1#p' "$demo/receive.log")
[ -n "$url" ] || { cat "$demo/receive.log" >&2; echo "demo: the receiver did not start" >&2; exit 1; }
export DEMO_WEBHOOK_URL="$url/hooks/wandb" DEMO_OTHER_URL="$url/other"

rm -f .reconcile/demo-events.db*
"$reconcile" apply "$demo/automations" --db .reconcile/demo-events.db --auto-approve >/dev/null
echo "--- reconcile emit: fraud-detector v3 gets the alias production"
"$reconcile" emit --db .reconcile/demo-events.db --allow-delivery-to 127.0.0.1 \
  --type alias_added --entity ml-platform --registry model --collection fraud-detector \
  --version 3 --alias production
echo "--- what reconcile receive printed"
for _ in $(seq 100); do
  grep -q 'token: ' "$demo/receive.log" && break
  sleep 0.1
done
cat "$demo/receive.log"
grep -q 'X-Wandb-Signature: valid .* token: valid' "$demo/receive.log"

echo "--- a training run (scripts/demo-train.py, the wandb SDK) against reconcile serve:"
echo "    it logs its model, links it into the registry, and promotes it to production"
"$python" -c 'import wandb' 2>/dev/null || "$python" -m pip install -q 'wandb==0.31.*'
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$reconcile" serve --db .reconcile/demo-events.db --port "$port" \
  --allow-delivery-to 127.0.0.1 >"$demo/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  grep -q 'Application startup complete' "$demo/serve.log" && break
  sleep 0.1
done
WANDB_BASE_URL="http://127.0.0.1:$port" WANDB_API_KEY=$(cat .reconcile/demo-events.db.admin-key) \
  WANDB_MODE=online WANDB_SILENT=true WANDB_DIR="$demo" HOME="$demo" \
  WANDB_CONFIG_DIR="$demo/wandb-config" WANDB_CACHE_DIR="$demo/wandb-cache" \
  "$python" scripts/demo-train.py
echo "--- what reconcile receive printed for the run and the promotion"
for _ in $(seq 300); do
  [ "$(grep -c 'X-Wandb-Signature: valid .* token: valid' "$demo/receive.log")" -ge 3 ] && break
  sleep 0.1
done
grep -A1 '"environment":"production","run_id"' "$demo/receive.log"
grep -A1 '"version":"ml-platform-org/wandb-registry-model/fraud-detector:v0"' "$demo/receive.log"
[ "$(grep -c 'X-Wandb-Signature: valid .* token: valid' "$demo/receive.log")" -eq 3 ]
grep -q '"environment":"production","run_id"' "$demo/receive.log"
grep -q '"version":"ml-platform-org/wandb-registry-model/fraud-detector:v0"' "$demo/receive.log"
