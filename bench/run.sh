#!/usr/bin/env bash
# The comparison benchmark: on this machine, in one run, fibergate beside
# the baselines it should be judged against, driven by the same generator
# (`fibergate bench run`, which shares the cores with the targets just as
# any generator here would):
#   (a) the echo app (bench/echoapp) directly            bench run --plain
#   (b) a plain fasthttp reverse proxy, no crypto        bench run --plain
#       (bench/plainproxy): the floor
#   (c) nginx proxy_pass, 2 workers, keep-alive upstream  bench run --plain
#       (only when nginx is installed)
#   (g) a minimal fasthttp proxy that hands the request     bench run --plain
#       object to its HostClient as it is, plus one sr25519
#       verification per request (bench/minproxy -verify):
#       the limit of any sidecar that checks a signature
#   (i) the plain proxy (b) plus one sr25519 verification   bench run --plain
#       per request (bench/plainproxy -verify)
#   (d) fibergate, encrypted requests, plain answers      bench run
#   (e) fibergate, encrypted requests and answers         bench run --encrypted-response
#   (f) fibergate, full handshakes only                   bench run --handshakes-only
#   (j) the validator's side: a plain client → fibergate  bench run --plain
#       egress → fibergate serve (as in (d)) → echo app,
#       egress asking for plain answers
#   (k) the same, egress asking for encrypted answers     bench run --plain
#       (its default), which serve encrypts (as in (e))
#       and egress decrypts
#   (p) another fibergate binary (BASELINE_BIN), plain    bench run
#       answers, as (d): a before-and-after comparison in one run
# (a) to (e), (g), (i), (j) and (k) at each size of SIZES (a JSON body padded to that many bytes;
# the app gets the same body with a fresh "nonce" field in every case), (f)
# once. Every target is started fresh for every run, with a fresh echo app
# behind it; each run is a closed loop of CONCURRENCY workers for DURATION
# after a 1 s warmup. The whole set is repeated REPS times, round robin
# (a b c d e at each size, then f; then again), so the machine's drift hits
# every target alike. Then (d) at 256 B runs REPS times at a fixed rate of
# half its median peak, for the latency at half load. The CPU time of the
# process under test, of the echo app and of the generator is sampled from
# /proc/<pid>/stat every 0.05 s, and the measured phase's share is divided
# by the requests (or handshakes) done in it. The context switches of each
# of those processes (all threads, voluntary and not, from
# /proc/<pid>/task/*/status) are sampled once a second and divided the same
# way. In (j) and (k) egress's CPU is sampled beside serve's, each divided by
# the chain's requests: egress is the validator's single identity (the
# first bench validator), serve the same as in (d).
#
# Installs nothing. wrk and nginx are used when present:
#   apt-get install -y wrk nginx     (then `service nginx stop`: this script runs its own)
# nginx is run as root (its workers as nobody) with a temporary prefix,
# config, pid and log files, on 127.0.0.1 only.
#
# Usage: bench/run.sh
#   DURATION=10s     length of each measured run
#   REPS=3           repetitions (each figure is the median of them, with its range)
#   CONCURRENCY=64   workers of the closed loop
#   SIZES="256 4096" request body sizes in bytes
#   WRK=0            1 also drives (a) to (c) with wrk, reported apart
#   TARGETS="a b c d e f g i h j k"  a subset to run (h: the half-load runs, which need d at 256 B)
#   RESULTS=<dir>    where every run's JSON goes (default a new /tmp/fibergate-bench.*),
#                    kept: `go run ./bench/report -dir <dir>` prints the table again
#   BASE_PORT=28900  ports BASE_PORT+1 to +7 on 127.0.0.1 must be free
#   BASELINE_BIN=<path>  a fibergate binary built from another commit; adds (p)
#                    to the round robin (with TARGETS, name p too)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
reps=${REPS:-3}
concurrency=${CONCURRENCY:-64}
sizes=${SIZES:-256 4096}
use_wrk=${WRK:-0}
baseline=${BASELINE_BIN:-}
only=${TARGETS:-a b c d e g i j k f h${baseline:+ p}}
base=${BASE_PORT:-28900}
results=${RESULTS:-}
miner=5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty # //Bob, a public dev key
validators=16
app_addr=127.0.0.1:$((base + 1))
plain_addr=127.0.0.1:$((base + 2))
nginx_addr=127.0.0.1:$((base + 3))
fg_addr=127.0.0.1:$((base + 4))
admin_addr=127.0.0.1:$((base + 5))
egress_addr=127.0.0.1:$((base + 6))
egress_admin=127.0.0.1:$((base + 7))

die() { echo "bench/run.sh: $*" >&2; exit 1; }

[[ $duration =~ ^[1-9][0-9]*(s|m)$ ]] || die "DURATION $duration: want whole seconds or minutes, e.g. 10s or 2m"
run_secs=${duration%?}
[[ $duration == *m ]] && run_secs=$((run_secs * 60))
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "REPS $reps: want a positive number"
[[ $concurrency =~ ^[1-9][0-9]*$ ]] || die "CONCURRENCY $concurrency: want a positive number"

[[ -n $results ]] || results=$(mktemp -d /tmp/fibergate-bench.XXXXXX)
mkdir -p "$results"
compgen -G "$results/*.meta.json" >/dev/null && die "$results holds runs already: give RESULTS a new directory"
work=$(mktemp -d)
# A pipe nobody writes to: reading it with a timeout is a sleep without a
# fork, for the CPU sampler.
mkfifo "$work/never"
exec {never}<>"$work/never"
interval=0.05
pids=() # every process this script started and has not stopped yet

cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn starts a command in the background, logging to $work/logs, and
# leaves its pid in $spawned.
spawn() {
  "$@" >>"$work/logs" 2>&1 &
  spawned=$!
  pids+=("$spawned")
}

# stop ends the given processes (started by spawn) and waits for them.
stop() {
  local p q keep
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
  for p in "$@"; do
    keep=()
    for q in "${pids[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
    pids=("${keep[@]}")
  done
}

# port_free fails when something already listens on addr.
port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# wait_http waits up to 10 s for url to answer with a status in want (a
# regex), failing if the process pid is gone first.
wait_http() {
  local url=$1 want=$2 pid=$3 code
  for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
    [[ $code =~ ^($want)$ ]] && return 0
    kill -0 "$pid" 2>/dev/null || { tail -20 "$work/logs" >&2; die "$url: the process exited"; }
    sleep 0.1
  done
  tail -20 "$work/logs" >&2
  die "$url: not ready after 10s (last status $code)"
}

# switches sets REPLY to the context switches of every thread of the given
# pids (voluntary and involuntary). No forks.
switches() {
  local p f k v total=0
  for p in "$@"; do
    for f in /proc/"$p"/task/*/status; do
      while read -r k v _; do
        case $k in voluntary_ctxt_switches: | nonvoluntary_ctxt_switches:) total=$((total + v)) ;; esac
      done 2>/dev/null <"$f" || true
    done
  done
  REPLY=$total
}

# ticks sets REPLY to the user+system CPU ticks of the given pids, or
# returns 1 when the first is gone or a zombie. No forks: it runs between
# samples while the target is measured.
ticks() {
  local p line f total=0 first=1
  for p in "$@"; do
    if ! { read -r line <"/proc/$p/stat"; } 2>/dev/null; then
      ((first)) && return 1
      continue
    fi
    read -r -a f <<<"${line##*) }"
    ((first)) && [[ ${f[0]} == Z ]] && return 1
    total=$((total + f[11] + f[12]))
    first=0
  done
  REPLY=$total
}

for a in "$app_addr" "$plain_addr" "$nginx_addr" "$fg_addr" "$admin_addr" "$egress_addr" "$egress_admin"; do
  port_free "$a" || die "$a is in use: set BASE_PORT to a free range"
done
command -v curl >/dev/null || die "curl is needed"
have_nginx=0
nginx_bin=$(command -v nginx || true)
[[ -z $nginx_bin && -x /usr/sbin/nginx ]] && nginx_bin=/usr/sbin/nginx
[[ -n $nginx_bin ]] && have_nginx=1
have_wrk=0
if [[ $use_wrk == 1 ]]; then
  command -v wrk >/dev/null || die "WRK=1 but wrk is not installed (apt-get install -y wrk)"
  have_wrk=1
fi

echo "== building into $work/bin"
go build -o "$work/bin/" ./cmd/fibergate ./bench/echoapp ./bench/plainproxy ./bench/minproxy ./bench/report
bin=$work/bin
"$bin/fibergate" keygen --out "$work/key.pem" >/dev/null
"$bin/fibergate" bench nodes --validators "$validators" --out "$work/nodes.json" >/dev/null
cat >"$work/fibergate.yaml" <<YAML
listen: "$fg_addr"
admin_listen: "$admin_addr"
upstream: {url: "http://$app_addr"}
miner: {hotkey: "$miner"}
handshake: {rsa_key_file: "$work/key.pem"}
validators: {min_stake: 1000, nodes_file: "$work/nodes.json"}
rate_limits: {per_ip: {per_second: 0}, per_validator: {per_second: 0}, handshakes_per_validator: {per_second: 0}}
log: {level: warn}
YAML
"$bin/fibergate" check-config --config "$work/fibergate.yaml" >/dev/null
# egress signs as the first bench validator, whose seed is public.
egress_seed=0x$(printf %s fibergate-bench-validator-0 | sha256sum | cut -d' ' -f1)
for answers in plain encrypted; do
  enc=false
  [[ $answers == encrypted ]] && enc=true
  cat >"$work/egress-$answers.yaml" <<YAML
listen: "$egress_addr"
admin_listen: "$egress_admin"
validator: {seed_env: BENCH_EGRESS_SEED}
miners: {static: [{hotkey: "$miner", address: "http://$fg_addr", uid: 0}]}
encrypted_responses: $enc
log: {level: warn}
YAML
  "$bin/fibergate" check-config --kind egress --config "$work/egress-$answers.yaml" >/dev/null
done

if ((have_nginx)); then
  ng=$work/nginx
  mkdir -p "$ng/tmp"
  chmod 755 "$work" "$ng"
  chmod 1777 "$ng/tmp"
  cat >"$ng/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $ng/tmp/body;
  proxy_temp_path $ng/tmp/proxy;
  fastcgi_temp_path $ng/tmp/fastcgi;
  uwsgi_temp_path $ng/tmp/uwsgi;
  scgi_temp_path $ng/tmp/scgi;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  upstream app {
    server $app_addr;
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen $nginx_addr;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
  "$nginx_bin" -t -q -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" || die "nginx refuses its config"
fi

cat >"$work/post.lua" <<'LUA'
-- POSTs one JSON body padded to the size given after "--".
function init(args)
  local size = tonumber(args[1]) or 256
  local head = '{"prompt":"fibergate bench", "pad": "'
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = head .. string.rep("x", math.max(size - #head - 2, 0)) .. '"}'
end
LUA

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo | tr -d '"\\')
nginx_version=""
((have_nginx)) && nginx_version=$("$nginx_bin" -v 2>&1 | tr -d '"\\')
wrk_version=""
((have_wrk)) && wrk_version=$({ wrk -v 2>&1 || true; } | head -1 | awk '{print $1, $2}' | tr -d '"\\')
cat >"$results/machine.json" <<JSON
{"date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "cpu": "$cpu_model", "nproc": $(nproc), "clk_tck": $(getconf CLK_TCK),
 "duration": "$duration", "reps": $reps, "concurrency": $concurrency,
 "go": "$(go version | awk '{print $3}')", "nginx": "$nginx_version", "wrk": "$wrk_version",
 "commit": "$(git describe --always --dirty 2>/dev/null || echo unknown)"}
JSON
echo "== machine: $(nproc) × $cpu_model; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== results in $results"

# measure runs one target fresh and records it in $results as <id>.meta.json
# (what ran), <id>.json (the generator's result), <id>.err (its messages),
# <id>.cpu (the CPU samples), <id>.ctx (the context switch samples) and,
# with WRK=1, <id>.wrk.txt.
# Arguments: rep target size [rate]
measure() {
  local rep=$1 target=$2 size=$3 rate=${4:-0}
  local id=$rep-$target-$size url pid app bench t0 load1 rc=0 n=0 s a g
  local server=() args=() second=""
  local limit=$(((run_secs + 300) * 20)) # samples: the run, its setup and a generous margin
  spawn "$bin/echoapp" -listen "$app_addr"
  app=$spawned
  wait_http "http://$app_addr/" 200 "$app"
  case $target in
    a)
      url=http://$app_addr server=("$app")
      ;;
    b)
      spawn "$bin/plainproxy" -listen "$plain_addr" -upstream "$app_addr"
      pid=$spawned url=http://$plain_addr server=("$spawned")
      wait_http "$url/" 200 "$pid"
      ;;
    g)
      spawn "$bin/minproxy" -listen "$plain_addr" -upstream "$app_addr" -verify
      pid=$spawned url=http://$plain_addr server=("$spawned")
      wait_http "$url/" 200 "$pid"
      ;;
    i)
      spawn "$bin/plainproxy" -listen "$plain_addr" -upstream "$app_addr" -verify
      pid=$spawned url=http://$plain_addr server=("$spawned")
      wait_http "$url/" 200 "$pid"
      ;;
    c)
      spawn "$nginx_bin" -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log"
      pid=$spawned url=http://$nginx_addr
      wait_http "$url/" 200 "$pid"
      # The master and its workers (which do the work).
      mapfile -t server < <(echo "$pid"; ps -o pid= --ppid "$pid" | tr -d ' ')
      ;;
    p)
      spawn "$baseline" serve --config "$work/fibergate.yaml"
      pid=$spawned url=http://$fg_addr server=("$spawned")
      wait_http "http://$admin_addr/readyz" 200 "$pid"
      ;;
    d | e | f | h)
      spawn "$bin/fibergate" serve --config "$work/fibergate.yaml"
      pid=$spawned url=http://$fg_addr server=("$spawned")
      wait_http "http://$admin_addr/readyz" 200 "$pid"
      ;;
    j | k)
      spawn "$bin/fibergate" serve --config "$work/fibergate.yaml"
      pid=$spawned server=("$spawned")
      wait_http "http://$admin_addr/readyz" 200 "$pid"
      local answers=plain
      [[ $target == k ]] && answers=encrypted
      BENCH_EGRESS_SEED=$egress_seed spawn "$bin/fibergate" egress --config "$work/egress-$answers.yaml"
      second=$spawned url=http://$egress_addr/miner/$miner
      wait_http "http://$egress_admin/readyz" 200 "$second"
      ;;
  esac
  case $target in
    a | b | c | g | i) args=(--plain --size "$size" --check-echo) ;;
    d | p) args=(--miner "$miner" --validators "$validators" --size "$size" --check-echo) ;;
    e) args=(--miner "$miner" --validators "$validators" --size "$size" --check-echo --encrypted-response) ;;
    f) args=(--miner "$miner" --validators "$validators" --handshakes-only) ;;
    h) args=(--miner "$miner" --validators "$validators" --size "$size" --check-echo --rate "$rate") ;;
    # egress sets its own inner nonce: the echo of the generator's is not
    # there to check; 2xx is.
    j | k) args=(--plain --size "$size") ;;
  esac
  read -r load1 _ </proc/loadavg
  t0=$EPOCHREALTIME
  "$bin/fibergate" bench run --url "$url" --concurrency "$concurrency" --duration "$duration" --json "${args[@]}" \
    >"$results/$id.json" 2>"$results/$id.err" &
  bench=$!
  pids+=("$bench")
  : >"$results/$id.cpu"
  : >"$results/$id.ctx"
  g=0
  while ticks "$bench"; do
    g=$REPLY
    ticks "${server[@]}" || break
    s=$REPLY
    ticks "$app" || break
    a=$REPLY
    if [[ -n $second ]]; then
      ticks "$second" || break
      echo "$EPOCHREALTIME $s $a $g $REPLY" >>"$results/$id.cpu"
    else
      echo "$EPOCHREALTIME $s $a $g" >>"$results/$id.cpu"
    fi
    if ((n % 20 == 0)); then
      sample_switches "$results/$id.ctx"
    fi
    if ((++n > limit)); then
      echo "   the generator ran too long: stopping it" >&2
      kill "$bench" 2>/dev/null || true
      break
    fi
    read -r -t "$interval" -u "$never" _ || true # sleeps without a fork
  done
  # One more right after the generator ended, which is right after the
  # measured phase ended: the servers' counts then cover all of it.
  if ticks "${server[@]}"; then
    s=$REPLY
    if ticks "$app"; then
      a=$REPLY
      if [[ -n $second ]]; then
        ticks "$second" && echo "$EPOCHREALTIME $s $a $g $REPLY" >>"$results/$id.cpu"
      else
        echo "$EPOCHREALTIME $s $a $g" >>"$results/$id.cpu"
      fi
    fi
    sample_switches "$results/$id.ctx"
  fi
  wait "$bench" || rc=$?
  stop "$bench"
  printf '{"id": "%s", "target": "%s", "size": %d, "rep": %d, "start_unix": %s, "load1": %s, "rate": %s, "exit": %d}\n' \
    "$id" "$target" "$size" "$rep" "$t0" "$load1" "$rate" "$rc" >"$results/$id.meta.json"
  printf '   rep %d  %s  %5s B  load %-5s  %s\n' "$rep" "$target" "$size" "$load1" "$(summary "$results/$id.json" "$rc")"
  if ((have_wrk)) && [[ $target =~ ^[abcgi]$ ]]; then
    wrk -t2 -c"$concurrency" -d"$duration" --latency -s "$work/post.lua" "$url/echo" -- "$size" \
      >"$results/$id.wrk.txt" 2>&1 || echo "   wrk failed: see $results/$id.wrk.txt" >&2
    printf '   rep %d  %s  %5s B  wrk: %s\n' "$rep" "$target" "$size" "$(grep -h 'Requests/sec' "$results/$id.wrk.txt" || true)"
  fi
  stop "${server[0]}" "$app"
  [[ -n $second ]] && stop "$second"
  return 0
}

# sample_switches appends "<time> <server> <app> <generator>" context
# switch counts to a file (measure's server, app and bench).
sample_switches() {
  local t=$EPOCHREALTIME sv ap gn
  switches "${server[@]}"
  sv=$REPLY
  switches "$app"
  ap=$REPLY
  switches "$bench"
  gn=$REPLY
  echo "$t $sv $ap $gn" >>"$1"
}

# value prints the first number under "key" in a result file.
value() { sed -n "s/^ *\"$1\": *\([0-9.e+-]*\).*/\1/p" "$2" | head -1; }

# summary writes the throughput and p99 of a result file in one line.
summary() {
  local rps p99
  rps=$(value ops_per_s "$1")
  p99=$(value p99_ms "$1")
  printf '%8.0f/s  p99 %7.2f ms  exit %s' "${rps:-0}" "${p99:-0}" "$2"
}

# The round robin: every repetition runs every target at every size.
targets=""
for t in $only; do
  case $t in
    c) ((have_nginx)) && targets+=" c" || echo "== no nginx: (c) left out" ;;
    a | b | d | e | g | i | j | k) targets+=" $t" ;;
    p) [[ -x $baseline ]] || die "TARGETS names p: set BASELINE_BIN to a fibergate binary"
      targets+=" p" ;;
    f | h) ;;
    *) die "TARGETS: unknown target $t (want a to k, p)" ;;
  esac
done
targets=${targets# }
plan="${targets// /,} at ${sizes// /,} B"
[[ " $only " == *" f "* ]] && plan+=", then f (handshakes)"
echo "== $reps repetitions of: $plan; $duration each, $concurrency workers"
for rep in $(seq "$reps"); do
  if [[ -n $targets ]]; then
    for size in $sizes; do
      for target in $targets; do
        measure "$rep" "$target" "$size"
      done
    done
  fi
  [[ " $only " == *" f "* ]] && measure "$rep" f 0
done

# Latency at half load: (d) 256 B at half its median closed-loop rate.
if [[ " $only " == *" h "* ]] && compgen -G "$results/*-d-256.json" >/dev/null; then
  peak=$(for f in "$results"/*-d-256.json; do value ops_per_s "$f"; done | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  half=$(awk -v p="$peak" 'BEGIN {printf "%d", p / 2}')
  if ((half > 0)); then
    echo "== (d) 256 B at a fixed $half/s, half its median peak of $(printf '%.0f' "$peak")/s"
    for rep in $(seq "$reps"); do
      measure "$rep" h 256 "$half"
    done
  fi
fi

echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$bin/report" -dir "$results"
