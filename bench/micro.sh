#!/usr/bin/env bash
# Micro-benchmarks of the primitives, interleaved: each round runs every
# package's benchmarks once, so machine noise hits all of them alike.
# Usage: bench/micro.sh [rounds] > out.txt; then benchstat out.txt
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-6}
pattern='BenchmarkVerify$|BenchmarkDecrypt$|BenchmarkSeal$|BenchmarkFloor$|BenchmarkParse$|BenchmarkMemoryRemember$|BenchmarkGet$|BenchmarkPut$|BenchmarkDecode$|BenchmarkDecryptSymmetricKey$|BenchmarkCheck$|BenchmarkLimitParallel$|BenchmarkKeyedParallel$|BenchmarkMemoryRememberPair$'
pkgs="./crypto/sr25519 ./crypto/fernet ./crypto/nonce ./replay ./keystore ./crypto/ss58 ./crypto/rsakey ./validators ./ratelimit"
go test -run '^$' -bench "$pattern" -benchtime 1x $pkgs >/dev/null # build once
for i in $(seq "$rounds"); do
  for p in $pkgs; do
    go test -run '^$' -bench "$pattern" -benchmem -benchtime 300ms -count 1 "$p" | grep -E '^(Benchmark|goos|goarch|pkg|cpu)'
  done
done
