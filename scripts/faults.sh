#!/usr/bin/env bash
# Fault drill: fibergate (memory backend, keys and replay guard persisted)
# with the demo app behind it and honest validators at a fixed RATE
# (default 100 requests a second), while the operator's bad day is played
# on the real process, one fault a phase. Each phase is one `fibergate
# bench run` that exchanges its keys first, so a phase that lost keys shows
# as unknown_key refusals; its report says what the fault cost: requests
# not served, by status and code. (That no captured request is served
# after a restart is the end-to-end tests' job: cmd/fibergate.)
#   scripts/faults.sh
#   RATE=200 scripts/faults.sh
# Phases, memory backend: signals (SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE); a
# clean restart (SIGTERM, then start again); kill -9 and start again; the
# open files limit cut to 256 (prlimit; it stays so to the end) under a
# flood of 600 idle connections. Then with keystore.backend redis (a
# redis-server of its own on 127.0.0.1:16379): FLUSHALL; a restart
# without persistence; an evicting policy for 35 s; out of memory for 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${RATE:-100}
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
keystore: {persist_file: "$work/keys.snapshot", persist_interval: 5s}
shutdown_grace: 5s
log: {level: warn}
YAML
export FIBERGATE_STORAGE_KEY
FIBERGATE_STORAGE_KEY=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_')

pid=
start() {
  "$work/fibergate" serve --config "$work/config.yaml" --demo-upstream >>"$work/serve.out" 2>>"$work/serve.err" &
  pid=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null http://127.0.0.1:19100/healthz && return
    sleep 0.02
  done
  echo "fibergate did not start"; exit 1
}
# ready: how long /readyz took to answer 200.
ready() {
  local t0=$SECONDS
  for _ in $(seq 600); do
    curl -sf http://127.0.0.1:19100/readyz >/dev/null && { echo "ready after $((SECONDS - t0)) s"; return; }
    sleep 0.1
  done
  echo "not ready within 60 s"
}
# load NAME SECONDS: honest load in the background for SECONDS. With
# --nonce-window 4s the load generator signs each request at most about
# 1.5 s before sending it, as a Fiber client signs at send time (it would
# otherwise sign a short phase's requests all at its start).
load() {
  "$work/fibergate" bench run --url http://127.0.0.1:18080 --miner "$miner" --validators "$validators" \
    --rate "$rate" --concurrency 32 --duration "$2s" --path /echo --check-echo \
    --nonce-window 4s >"$work/$1.txt" 2>&1 &
  loadpid=$!
  sleep 3 # its handshakes are done
}
report() { # NAME
  wait "$loadpid" || true
  echo "-- $1"
  grep -E "^  (requests|not 200|no answer|setup)" "$work/$1.txt" || cat "$work/$1.txt"
}
start
ready >/dev/null

echo "== signals: SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE"
load signals 20
for s in HUP USR1 USR2 PIPE; do kill -s "$s" "$pid"; sleep 2; done
report signals
kill -0 "$pid" && echo "still running"

echo "== clean restart: SIGTERM, then start again"
load clean 30
sleep 5
kill -TERM "$pid"; wait "$pid" || true
start; ready
report clean

echo "== kill -9, then start again (after the key snapshot of the phase's keys)"
load crash 45
sleep 10
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
start; ready
report crash

echo "== open files limited to 256, 600 idle connections for 10 s"
load fds 30
sleep 3
prlimit --pid "$pid" --nofile=256:256
python3 - <<'PY' &
import socket, time
conns = []
for _ in range(600):
    try:
        conns.append(socket.create_connection(("127.0.0.1", 18080), timeout=2))
    except OSError:
        break
time.sleep(10)
PY
flood=$!
wait "$flood"
report fds
curl -s http://127.0.0.1:19100/metrics | grep -E '^fibergate_listener_accept_errors_total|^fibergate_nonce_guard_(lost|saves)_total'

kill -TERM "$pid"; wait "$pid" || true
grep -vE 'msg="request"' "$work/serve.err" | cut -c1-240 | tail -8 >"$work/memory.log"
: >"$work/serve.err"

echo
echo "== keystore.backend redis: a redis-server of its own, no persistence"
redis-server --port 16379 --bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning >"$work/redis.log" 2>&1 &
redis=$!
rcli() { redis-cli -p 16379 "$@"; }
for _ in $(seq 100); do rcli ping >/dev/null 2>&1 && break; sleep 0.05; done
cat >"$work/config.yaml" <<YAML
listen: "127.0.0.1:18080"
admin_listen: "127.0.0.1:19100"
upstream: {url: "http://127.0.0.1:19000"}
miner: {hotkey: "$miner"}
validators: {min_stake: 1000, nodes_file: "$work/nodes.json"}
keystore: {backend: redis, redis: {addr: "127.0.0.1:16379"}}
shutdown_grace: 5s
log: {level: warn}
YAML
start; ready >/dev/null

echo "== FLUSHALL (the keys go with the nonces: this load generator does not exchange again)"
load flush 20
sleep 5
rcli flushall >/dev/null
report flush

echo "== redis restarted without persistence"
load restart 20
sleep 5
kill "$redis"; wait "$redis" 2>/dev/null || true
redis-server --port 16379 --bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning >>"$work/redis.log" 2>&1 &
redis=$!
report restart

echo "== maxmemory-policy allkeys-lru under maxmemory 256mb for 35 s, then noeviction"
load evicting 50
sleep 5
rcli config set maxmemory 256mb >/dev/null; rcli config set maxmemory-policy allkeys-lru >/dev/null
sleep 35
rcli config set maxmemory-policy noeviction >/dev/null
report evicting

echo "== out of memory (noeviction, maxmemory below what Redis holds) for 10 s"
load oom 30
sleep 5
for i in $(seq 64); do rcli set "junk:$i" "$(head -c 65536 /dev/zero | tr '\0' x)" >/dev/null; done
rcli config set maxmemory 2mb >/dev/null
sleep 10
rcli config set maxmemory 0 >/dev/null
report oom
curl -s http://127.0.0.1:19100/metrics | grep -E '^fibergate_nonce_guard_lost_total|^fibergate_keystore_redis_evicting|^fibergate_keystore_backend_errors_total' | grep -v ' 0$'

kill -TERM "$pid"; wait "$pid" || true
kill "$redis" 2>/dev/null || true
echo "== fibergate's warnings and errors (memory backend, then redis)"
cat "$work/memory.log"
grep -vE 'msg="request"' "$work/serve.err" | cut -c1-240 | tail -12
