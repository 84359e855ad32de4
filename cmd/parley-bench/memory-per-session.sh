#!/usr/bin/env bash
# memory-per-session.sh: parleyd's memory per idle authenticated TLS
# session, or per session joined to a room of 30, at COUNT sessions (default
# 19,500: what one node holds under a 20,000 open-files limit) on SQLite.
#
# One bench process cannot hold that many connections under the same
# limit, so two hold half each, from different loopback addresses
# (127.0.0.2-5 and 127.0.0.6-9). HOLD after both are in, it reads the
# server's RSS (/proc) and, from its admin HTTP, the goroutines and their
# stacks; then it forces a garbage collection (/debug/pprof/heap?gc=1)
# and reads the live heap. It prints each per session, with the load
# average (the machine is shared: note it beside the figures).
#
#   make build && cmd/parley-bench/memory-per-session.sh idle
#   cmd/parley-bench/memory-per-session.sh joined     # rooms of 30, 1 post/s in each half
#
# Environment: BIN (default ./bin), COUNT (19500), HOLD (60s), PORT (25222;
# PORT+1 is parleyd's admin HTTP port), KEEP=1 keeps the work directory.
set -euo pipefail

mode=${1:?usage: memory-per-session.sh idle|joined}
bin=${BIN:-./bin}
count=${COUNT:-19500}
hold=${HOLD:-60s}
port=${PORT:-25222}
admin=127.0.0.1:$((port + 1))
work=$(mktemp -d)
cleanup() {
	for p in ${benches:-} ${pid:-}; do kill -INT "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

half=$((count / 2))
case $mode in
idle) ;;
joined) rooms=$((half / 30)); half=$((rooms * 30)) ;;
*)
	echo "unknown mode $mode: want idle or joined" >&2
	exit 2
	;;
esac
storage=sqlite:$work/parley.db
"$bin/parley-bench" users --storage "$storage" --count $((2 * half)) >/dev/null

"$bin/parleyd" --data "$work" --domain localhost --storage "$storage" \
	--xmpp-c2s "127.0.0.1:$port" --xmpp-tls "" --https "" --http "" --admin-http "$admin" \
	--sip "" --sip-tls "" --xmpp-s2s "" --log-level warn --strict-listeners \
	--ip-stanza-rate 1000000 --ip-stanza-burst 1000000 --user-stanza-rate 1000000 --user-stanza-burst 1000000 \
	--stanza-rate 1000000 --stanza-burst 1000000 --joins-per-minute 1000000 --max-unauth-per-ip 100000 \
	--max-rooms-per-user 1000000 >/dev/null 2>"$work/parleyd.err" &
pid=$!
for _ in $(seq 100); do
	curl -sf "http://$admin/healthz" >/dev/null && break
	sleep 0.1
done
metric() { curl -sf "http://$admin/metrics" | awk -v m="$1" '$1 == m { printf "%.0f\n", $2 }'; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
before=$(rss)

# bench N OFFSET SOURCES: one bench process, in the background.
bench() {
	local common=(--addr "127.0.0.1:$port" --domain localhost --offset "$2" --source "$3" --json --log-level info)
	if [ "$mode" = idle ]; then
		"$bin/parley-bench" sessions "${common[@]}" --count "$half" --hold 24h >"$work/bench$1.json" 2>"$work/bench$1.log" &
	else
		"$bin/parley-bench" rooms "${common[@]}" --storage "$storage" --room-prefix "mem$1-" \
			--rooms "$rooms" --size 30 --rate 1 --duration 24h >"$work/bench$1.json" 2>"$work/bench$1.log" &
	fi
	benches="${benches:-} $!"
	until grep -qE 'msg="holding sessions"|msg=posting' "$work/bench$1.log" 2>/dev/null; do
		if ! kill -0 "$!" 2>/dev/null; then
			cat "$work/bench$1.log" >&2
			exit 1
		fi
		sleep 2
	done
}
bench 1 0 127.0.0.2-127.0.0.5
bench 2 "$half" 127.0.0.6-127.0.0.9
sleep "$hold"
after=$(rss)
load=$(cut -d' ' -f1-3 /proc/loadavg)
sessions=$(metric parley_xmpp_sessions)
goroutines=$(metric go_goroutines)
stack=$(metric go_memstats_stack_inuse_bytes)
curl -sf "http://$admin/debug/pprof/heap?gc=1" >/dev/null
heap=$(metric go_memstats_heap_alloc_bytes)
python3 - "$mode" "$sessions" "$before" "$after" "$heap" "$stack" "$goroutines" "$load" <<'PY'
import sys
mode, n, before, after, heap, stack, gr, load = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:8]), sys.argv[8]
print(f"{n} {mode} sessions (load average {load}), per session:")
print(f"  RSS          {(after - before) / n:.1f} kB  ({before / 1024:.0f} MB before, {after / 1024:.0f} MB with the sessions)")
print(f"  live heap    {heap / n / 1024:.1f} kB  (after a forced GC)")
print(f"  stacks       {stack / n / 1024:.1f} kB")
print(f"  goroutines   {gr / n:.2f}")
PY
