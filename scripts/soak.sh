#!/usr/bin/env bash
# Soak: fibergate with the demo app behind it, honest validators at a fixed
# rate from one process and a flood of bad requests from another, for
# MINUTES (default 10). Every minute it samples fibergate's resident
# memory, goroutines, remembered nonces and held keys. Prints the samples
# and both load generators' reports; exits non-zero if an honest request
# failed or the flood got anything but 4xx answers.
#   MINUTES=10 HONEST_RATE=100 FLOOD_RATE=200 scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${MINUTES:-10}
duration=${minutes}m
honest_rate=${HONEST_RATE:-100}
flood_rate=${FLOOD_RATE:-200}
validators=${VALIDATORS:-8}
miner=5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

go build -o "$work/fibergate" ./cmd/fibergate
"$work/fibergate" bench nodes --validators "$validators" --out "$work/nodes.json" >/dev/null
cat >"$work/config.yaml" <<YAML
listen: "127.0.0.1:18080"
admin_listen: "127.0.0.1:19100"
upstream: {url: "http://127.0.0.1:19000"}
miner: {hotkey: "$miner"}
validators: {min_stake: 1000, nodes_file: "$work/nodes.json"}
log: {level: warn}
YAML
"$work/fibergate" serve --config "$work/config.yaml" --demo-upstream >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:19100/readyz >/dev/null && break; sleep 0.1; done

sample() {
  local m rss
  m=$(curl -s http://127.0.0.1:19100/metrics)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  printf '%-8s rss_kib=%-8s goroutines=%-5s nonces=%-7s keys=%s\n' "$1" "$rss" \
    "$(awk '/^go_goroutines / {print $2}' <<<"$m")" \
    "$(awk '/^fibergate_nonce_cache_entries / {print $2}' <<<"$m")" \
    "$(awk '/^fibergate_keystore_keys / {print $2}' <<<"$m")"
}

"$work/fibergate" bench run --url http://127.0.0.1:18080 --miner "$miner" --validators "$validators" \
  --rate "$honest_rate" --concurrency 32 --duration "$duration" --path /echo --check-echo >"$work/honest.txt" 2>&1 &
honest=$!
"$work/fibergate" bench flood --url http://127.0.0.1:18080 --miner "$miner" --validators "$validators" \
  --rate "$flood_rate" --concurrency 32 --duration "$duration" >"$work/flood.txt" 2>&1 &
flood=$!

sample "start"
for m in $(seq "$minutes"); do
  sleep 60
  sample "${m}m"
done
status=0
wait "$honest" || status=1
wait "$flood" || status=1
sample "end"
echo; echo "== honest validators"; cat "$work/honest.txt"
echo; echo "== flood"; cat "$work/flood.txt"
kill -TERM "$pid"; wait "$pid" || true
exit $status
