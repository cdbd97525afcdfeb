#!/usr/bin/env bash
# Runs every native fuzz target in the module for FUZZTIME (default 4s), so
# CI exercises each parser of untrusted input beyond its seed corpus. Any
# crasher is written by go test under the package's testdata/fuzz and fails
# the run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-4s}
count=0
while IFS= read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    echo "fuzz ./$dir $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir" >/tmp/fuzz-$$.log 2>&1; then
      # The fuzzing engine itself can time out stopping a worker on a busy
      # machine ("context deadline exceeded", no failing input written):
      # that one is run again. A real failure writes its input and fails.
      if grep -q 'context deadline exceeded' /tmp/fuzz-$$.log && ! grep -q 'Failing input written' /tmp/fuzz-$$.log; then
        echo "   the fuzzing engine timed out stopping; running $target again"
        go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir" >/tmp/fuzz-$$.log 2>&1 || {
          cat /tmp/fuzz-$$.log
          echo "fuzz target $target in ./$dir failed"
          exit 1
        }
      else
        cat /tmp/fuzz-$$.log
        echo "fuzz target $target in ./$dir failed"
        exit 1
      fi
    fi
    count=$((count + 1))
  done
done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(' --include='*_test.go' . | sed 's|^\./||' | sort)
rm -f /tmp/fuzz-$$.log
echo "fuzz smoke: $count targets ran for $fuzztime each"
