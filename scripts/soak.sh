#!/usr/bin/env bash
# Soak: fibergate with the demo app behind it, honest validators from one
# process and a flood of bad requests from another, for MINUTES (default
# 10). The honest load runs at a fixed HONEST_RATE, or with HONEST_RATE=peak
# as a closed loop of CONCURRENCY workers: as fast as fibergate serves, its
# peak rate on this machine beside the flood. Every minute it samples
# fibergate's resident memory, goroutines, remembered nonces, the replay
# guard's memory against its budget, held keys and the requests served in
# that minute. Prints the samples and both load generators' reports; exits
# non-zero if an honest request failed in any way (refused, unanswered or
# answered wrong), the flood got anything but 4xx answers, or fibergate's
# resident memory ever exceeded RSS_LIMIT_MIB.
#   MINUTES=10 HONEST_RATE=100 FLOOD_RATE=200 scripts/soak.sh
#   MINUTES=32 HONEST_RATE=peak VALIDATORS=80 scripts/soak.sh
# SERVE_BIN=path serves with another build of fibergate (an older commit's,
# to compare in one session); the load generators stay this checkout's.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${MINUTES:-10}
duration=${minutes}m
honest_rate=${HONEST_RATE:-100}
flood_rate=${FLOOD_RATE:-200}
validators=${VALIDATORS:-8}
concurrency=${CONCURRENCY:-64}
rss_limit_mib=${RSS_LIMIT_MIB:-160}
miner=5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

rate_args=(--rate "$honest_rate")
per_ip=""
if [[ $honest_rate == peak ]]; then
  rate_args=()
  # Every request comes from 127.0.0.1: the per-address limit would cap the
  # whole test at 500/s. The per-validator limit stays at its default.
  per_ip="rate_limits: {per_ip: {per_second: 0}}"
fi

go build -o "$work/fibergate" ./cmd/fibergate
serve_bin=${SERVE_BIN:-$work/fibergate}
"$work/fibergate" bench nodes --validators "$validators" --out "$work/nodes.json" >/dev/null
cat >"$work/config.yaml" <<YAML
listen: "127.0.0.1:18080"
admin_listen: "127.0.0.1:19100"
upstream: {url: "http://127.0.0.1:19000"}
miner: {hotkey: "$miner"}
validators: {min_stake: 1000, nodes_file: "$work/nodes.json"}
log: {level: warn}
$per_ip
YAML
"$serve_bin" check-config --config "$work/config.yaml" | sed -n 2p
"$serve_bin" serve --config "$work/config.yaml" --demo-upstream >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:19100/readyz >/dev/null && break; sleep 0.1; done

max_rss=0
last_ok=0
sample() { # name [seconds since the last sample, for served/s]
  local m rss ok served=-
  m=$(curl -s http://127.0.0.1:19100/metrics)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  ((rss > max_rss)) && max_rss=$rss
  ok=$(awk '/^fibergate_requests_total\{.*result="ok"/ {s += $2} END {printf "%d", s}' <<<"$m")
  [[ -n ${2:-} ]] && served=$(((ok - last_ok) / $2))
  printf '%-6s rss_kib=%-7s goroutines=%-4s nonces=%-8s guard_kib=%-7s budget_kib=%-6s keys=%-4s served/s=%s\n' "$1" "$rss" \
    "$(awk '/^go_goroutines / {print $2}' <<<"$m")" \
    "$(awk '/^fibergate_nonce_cache_entries / {printf "%d", $2}' <<<"$m")" \
    "$(awk '/^fibergate_nonce_cache_bytes / {printf "%d", $2 / 1024}' <<<"$m")" \
    "$(awk '/^fibergate_nonce_cache_budget_bytes / {printf "%d", $2 / 1024}' <<<"$m")" \
    "$(awk '/^fibergate_keystore_keys / {print $2}' <<<"$m")" "$served"
  last_ok=$ok
}

"$work/fibergate" bench run --url http://127.0.0.1:18080 --miner "$miner" --validators "$validators" \
  "${rate_args[@]}" --concurrency "$concurrency" --duration "$duration" --path /echo --check-echo >"$work/honest.txt" 2>&1 &
honest=$!
"$work/fibergate" bench flood --url http://127.0.0.1:18080 --miner "$miner" --validators "$validators" \
  --rate "$flood_rate" --concurrency 32 --duration "$duration" >"$work/flood.txt" 2>&1 &
flood=$!

sample "start"
for m in $(seq "$minutes"); do
  sleep 60
  sample "${m}m" 60
done
status=0
wait "$honest" || status=1
wait "$flood" || status=1
sample "end"
echo; echo "== honest validators"; cat "$work/honest.txt"
echo; echo "== flood"; cat "$work/flood.txt"
echo; echo "== fibergate: most resident memory $((max_rss / 1024)) MiB (limit $rss_limit_mib MiB)"
if ((max_rss > rss_limit_mib * 1024)); then
  echo "resident memory over the limit"
  status=1
fi
if [[ -s $work/serve.err ]]; then
  echo "== fibergate's log (warnings and errors)"; tail -20 "$work/serve.err"
fi
kill -TERM "$pid"; wait "$pid" || true
exit $status
