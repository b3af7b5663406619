#!/usr/bin/env bash
# The demo's runtime part (run by scripts/demo.sh, after apply): an event fires a shipped
# example automation, and `reconcile receive` shows the signed request it sent.
#
# The example webhook deploy-pipeline points at deploy.example.com; here a copy of the
# inventory reads its URL from DEMO_WEBHOOK_URL instead (the inventory's
# `url: {from_env: VAR}`) and is applied to a database of its own,
# .reconcile/demo-events.db, so the examples and .reconcile/server.db stay as they are.
# Needs the example secrets' variables set (scripts/demo.sh sets demo values);
# RECONCILE names the command [default: .venv/bin/reconcile].
set -euo pipefail
cd "$(dirname "$0")/.."
reconcile=${RECONCILE:-.venv/bin/reconcile}
: "${DEPLOY_TOKEN:?}" "${DEPLOY_SIGNING_KEY:?}"

demo=.reconcile/demo
rm -rf "$demo" && mkdir -p "$demo"
cp -R automations "$demo/automations"
team="$demo/automations/examples/team.yaml"
sed 's#^    url: https://deploy.example.com/hooks/wandb$#    url: {from_env: DEMO_WEBHOOK_URL}#' \
  automations/examples/team.yaml >"$team"
grep -q 'from_env: DEMO_WEBHOOK_URL' "$team" || { echo "demo: deploy-pipeline URL not found" >&2; exit 1; }

# A receiver on a free loopback port that checks the token and the signature; the
# trap stops it however this script ends.
PYTHONUNBUFFERED=1 "$reconcile" receive --port 0 \
  --secret-env DEPLOY_SIGNING_KEY --token-env DEPLOY_TOKEN >"$demo/receive.log" 2>&1 &
receiver=$!
trap 'kill "$receiver" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q '^listening on' "$demo/receive.log" && break
  sleep 0.1
done
url=$(sed -n 's#^listening on \(http://[^ ]*\) .*#\1#p' "$demo/receive.log")
[ -n "$url" ] || { cat "$demo/receive.log" >&2; echo "demo: the receiver did not start" >&2; exit 1; }
export DEMO_WEBHOOK_URL="$url/hooks/wandb"

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
