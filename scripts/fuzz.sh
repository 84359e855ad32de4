#!/usr/bin/env bash
# Runs every fuzz target of the module (each func Fuzz… in a _test.go
# file) for FUZZTIME (default 10s) each, one after the other, with
# FUZZ_PARALLEL workers (default 1: the project's machines have 2 cores
# shared by several people). Each package's test binary is built once,
# with the fuzzing instrumentation, and run once per target.
#
# Plain `go test` already runs each target on its committed seed corpus
# (f.Add and testdata/fuzz/NAME/); this explores beyond it. An input that
# fails is written to the package's testdata/fuzz/NAME/ and fails the
# run: fix the bug and commit the file, and every `go test` replays it.
#
#   scripts/fuzz.sh                   every target, 10s each
#   scripts/fuzz.sh 5m                every target, 5 minutes each
#   scripts/fuzz.sh 2s FuzzSASL FuzzDigest   only these
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-10s}}
shift || true
only=" $* "
module=$(go list -m)
cache=$(go env GOCACHE)/fuzz
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
failed=()
ran=0
# file:FuzzName for every target, grouped by package.
targets=$(grep -rHoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed -e 's#^\./##' -e 's#:func #:#' | sort)
for dir in $(printf '%s\n' "$targets" | cut -d: -f1 | xargs -n1 dirname | sort -u); do
	names=$(printf '%s\n' "$targets" | awk -F: -v d="$dir" '{ n = split($1, p, "/"); f = p[1]; for (i = 2; i < n; i++) f = f "/" p[i]; if (f == d) print $2 }')
	want=()
	for name in $names; do
		if [ "$only" = "  " ] || [[ "$only" == *" $name "* ]]; then
			want+=("$name")
		fi
	done
	[ ${#want[@]} -gt 0 ] || continue
	bin=$bins/$(echo "$dir" | tr / _).test
	go test -c -fuzz=. -o "$bin" "./$dir"
	for name in "${want[@]}"; do
		echo "fuzz: $name in ./$dir for $fuzztime"
		ran=$((ran + 1))
		log=$bins/log
		# Go's fuzzing engine can end a short run with "context deadline
		# exceeded" and no failing input when -fuzztime runs out while it
		# is still replaying the cached corpus (golang/go#56238): that is
		# the engine's clock, not a finding, and the target is run again
		# (twice at most). A failure with an input is never retried.
		for try in 1 2 3; do
			status=0
			(cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^${name}\$" -test.fuzztime="$fuzztime" \
				-test.parallel="${FUZZ_PARALLEL:-1}" -test.fuzzcachedir="$cache/$module/$dir") >"$log" 2>&1 || status=$?
			if [ "$status" -eq 0 ] || ! grep -q 'context deadline exceeded' "$log" || grep -q 'Failing input written' "$log"; then
				break
			fi
			echo "fuzz: $name: the engine's deadline ran out without a finding (try $try), running it again"
		done
		# The progress lines every 3 s are noise; the result and a
		# failure with its input's file are kept.
		grep -Ev '^fuzz: elapsed: ' "$log" || true
		if [ "$status" -ne 0 ]; then
			failed+=("$name (./$dir)")
		fi
	done
done
echo "fuzz: $ran targets, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: FAILED %s\n' "${failed[@]}"
	echo "fuzz: the failing inputs are under each package's testdata/fuzz/: fix the bug, then commit them as regression tests"
	exit 1
fi
