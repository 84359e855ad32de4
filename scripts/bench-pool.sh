#!/usr/bin/env bash
# bench-pool.sh: the seed's pool scale on one machine (issue 17, item 3).
#
# Starts NODES parleyd nodes as one pool on 127.0.1.1.. (one MySQL
# database, the local server), creates TOTAL = NODES x PER_NODE accounts,
# and runs one parley-bench rooms process per node (a process holds at most
# ~19,900 sessions under a 20,000 open-files limit), each spreading its
# sessions over every node, in the seed's room mix scaled (one room of BIG,
# a quarter of the users in rooms of 150, the rest in rooms of 30), so that
# every node holds PER_NODE sessions and rooms span nodes. The big room
# broadcasts the presence of BIG_PRESENCE only (default moderator: its
# first occupant, made its owner, and no one else, so a join there is not
# sent to its BIG occupants; muc#roomconfig_presencebroadcast, set with
# parley-bench rooms --presence-broadcast, to the first process's rooms of
# BIG occupants or more: with a BIG of 150 or less, its rooms of 150 too,
# and of 30 with a BIG of 30 or less); BIG_PRESENCE=
# (empty) leaves it broadcasting every role, n² presences. The occupants
# join the rooms in turn (--join-interleaved: a room takes its joins one at
# a time, so joined room after room the joins under way would queue on one
# room); JOIN_INTERLEAVED=0 joins room after room. Once everyone
# has joined, all processes post RATE posts/s in total for DURATION (the
# steady phase: post->delivery latency, lost and duplicated deliveries,
# per-node RSS and CPU), then node NODES is killed with SIGKILL under that
# load and posting goes on for AFTER: the report gives the time the pool
# took to declare the node lost and re-home its rooms (from the survivors'
# logs) and the reconnect storm (every displaced session logs back in and
# rejoins: RECONNECT=next sends them to the other nodes, RECONNECT=home
# restarts the killed node after RESTART_DELAY and brings them back to it,
# which is what a node that is full must do: with 20,000 open files per
# process, the survivors of a pool of 4 x 19,500 cannot take 6,500 more
# each).
#
#   scripts/bench-pool.sh                       # small: 4 x 500, 200 posts/s, 60 s + 30 s
#   PER_NODE=19500 BIG=4000 DURATION=600 RECONNECT=home scripts/bench-pool.sh   # the seed's scale
#   make bench-pool BENCH_POOL='PER_NODE=19500 BIG=4000 DURATION=180'
#
# Everything is under OUT (default bench-results/pool-DATE): nodes' logs,
# the bench processes' reports (p*.json, p*.log), samples.txt (each node's
# RSS and CPU at each milestone), summary.txt (the merged report and the
# pool timings). The MySQL databases are made fresh and dropped at the end
# (KEEP=1 keeps them); DB=NAME uses NAME (and NAME_compliance), created if
# missing and kept, so that the accounts of a large run can be made
# beforehand (bin/parley-bench users --storage 'mysql:root@tcp(127.0.0.1:3306)/NAME' --count N;
# SKIP_USERS=1 then skips the check that they exist).
set -euo pipefail

NODES=${NODES:-4}
PER_NODE=${PER_NODE:-500}
RATE=${RATE:-200}
DURATION=${DURATION:-60}
AFTER=${AFTER:-30}
RECONNECT=${RECONNECT:-next}
RESTART_DELAY=${RESTART_DELAY:-5}
LOGIN_RATE=${LOGIN_RATE:-150}
MYSQL=${MYSQL:-root@tcp(127.0.0.1:3306)/}
DOMAIN=${DOMAIN:-localhost}
BIN=${BIN:-bin}
KEEP=${KEEP:-0}
TOTAL=$((NODES * PER_NODE))
BIG=${BIG:-$((TOTAL / 20))}
BIG_PRESENCE=${BIG_PRESENCE-moderator}
JOIN_INTERLEAVED=${JOIN_INTERLEAVED:-1}
OUT=${OUT:-bench-results/pool-$(date -u +%Y%m%dT%H%M%SZ)}

die() { echo "bench-pool: $*" >&2; exit 1; }
say() { echo "bench-pool: $(date -u +%H:%M:%S) $*" >&2; }

[[ -x $BIN/parleyd && -x $BIN/parley-bench ]] || die "no $BIN/parleyd or $BIN/parley-bench: run make build"
((NODES >= 2)) || die "NODES must be 2 or more"
((PER_NODE <= 19800)) || die "PER_NODE over 19,800: one bench process per node would pass 20,000 open files"
ulimit -n 20000 2>/dev/null || true
(($(ulimit -n) >= PER_NODE + 100)) || die "ulimit -n is $(ulimit -n): too low for $PER_NODE sessions per process"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [[ -n ${DB:-} ]]; then
	KEEP=1
else
	DB=parley_pool_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
fi
SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
sql() { mysql -uroot -h127.0.0.1 --protocol=tcp -e "$1"; }
dsn() { echo "mysql:${MYSQL}$1"; }

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for n in $(seq "$NODES"); do
		[[ -f $OUT/node$n/pid ]] && kill "$(cat "$OUT/node$n/pid")" 2>/dev/null || true
	done
	sleep 2
	for n in $(seq "$NODES"); do
		[[ -f $OUT/node$n/pid ]] && kill -9 "$(cat "$OUT/node$n/pid")" 2>/dev/null || true
	done
	if [[ $KEEP != 1 ]]; then
		sql "DROP DATABASE IF EXISTS $DB; DROP DATABASE IF EXISTS ${DB}_compliance" || true
	fi
}
trap cleanup EXIT

peers() {
	local n out=()
	for n in $(seq "$NODES"); do out+=("127.0.1.$n:8011"); done
	local IFS=,
	echo "${out[*]}"
}

start_node() {
	local n=$1 dir=$OUT/node$1
	mkdir -p "$dir/data"
	# The bench's limits-off flags (parley-bench servers.go), the pool on
	# 127.0.1.N; info logs for the pool's events (node lost, hosting room).
	setsid "$BIN/parleyd" \
		--data "$dir/data" --domain "$DOMAIN" \
		--storage "$(dsn "$DB")" --compliance-storage "$(dsn "${DB}_compliance")" \
		--pool "127.0.1.$n:8011" --pool-peers "$(peers)" \
		--node "node$n" --pool-secret "$SECRET" \
		--xmpp-c2s "127.0.1.$n:5222" --xmpp-tls "" --http "" --https "" \
		--admin-http "127.0.1.$n:5282" --sip "" --sip-tls "" --xmpp-s2s "" \
		--ip-stanza-rate 1000000 --ip-stanza-burst 1000000 \
		--user-stanza-rate 1000000 --user-stanza-burst 1000000 \
		--stanza-rate 1000000 --stanza-burst 1000000 \
		--joins-per-minute 1000000 --max-unauth-per-ip 100000 --max-rooms-per-user 1000000 \
		--log-level info \
		</dev/null >>"$dir/log" 2>&1 &
	echo $! >"$dir/pid"
	disown # its SIGKILL is the test, not news
}

wait_listening() {
	local n=$1 i
	for i in $(seq 120); do
		if grep -q "XMPP c2s (STARTTLS) on" "$OUT/node$n/log" 2>/dev/null; then return 0; fi
		kill -0 "$(cat "$OUT/node$n/pid")" 2>/dev/null || die "node$n exited: $(tail -5 "$OUT/node$n/log")"
		sleep 0.5
	done
	die "node$n did not listen within 60 s"
}

# sample NAME appends each node's RSS (kB) and CPU seconds to samples.txt.
sample() {
	local n pid rss cpu
	for n in $(seq "$NODES"); do
		pid=$(cat "$OUT/node$n/pid")
		if [[ -r /proc/$pid/stat ]]; then
			rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
			cpu=$(awk '{printf "%.2f", ($14+$15)/100}' "/proc/$pid/stat")
		else
			rss=- cpu=-
		fi
		printf '%s node%s pid=%s rss_kb=%s cpu_s=%s t=%s load="%s"\n' "$1" "$n" "$pid" "$rss" "$cpu" \
			"$(date -u +%s.%N)" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/samples.txt"
	done
}

# mix P is bench process P's rooms: the big room in the first process,
# then a quarter of its users in rooms of 150, the rest in rooms of 30.
mix() {
	local p=$1 users=$PER_NODE big=0 n150 n30 parts=()
	if ((p == 0 && BIG > 0)); then big=$BIG; parts+=("1x$BIG"); fi
	n150=$((users / 4 / 150))
	n30=$(((users - big - n150 * 150) / 30))
	((n150 > 0)) && parts+=("${n150}x150")
	((n30 > 0)) && parts+=("${n30}x30")
	local IFS=,
	echo "${parts[*]}"
}

say "uptime: $(uptime)"
say "out $OUT; database $DB; $NODES nodes x $PER_NODE sessions = $TOTAL; big room $BIG (presence broadcast: ${BIG_PRESENCE:-every role}); $RATE posts/s for ${DURATION}s, kill node$NODES, ${AFTER}s more; reconnect $RECONNECT"
sql "CREATE DATABASE IF NOT EXISTS $DB; CREATE DATABASE IF NOT EXISTS ${DB}_compliance"
if [[ ${SKIP_USERS:-0} != 1 ]]; then
	say "creating $TOTAL accounts"
	"$BIN/parley-bench" users --storage "$(dsn "$DB")" --count "$TOTAL" >"$OUT/users.txt" 2>&1 || die "users: $(tail -3 "$OUT/users.txt")"
fi

for n in $(seq "$NODES"); do start_node "$n"; done
for n in $(seq "$NODES"); do wait_listening "$n"; done
sleep 3 # heartbeats: every node sees the others
sample started

addrs=$(for n in $(seq "$NODES"); do printf '127.0.1.%s:5222,' "$n"; done)
addrs=${addrs%,}
per_rate=$(awk -v r="$RATE" -v n="$NODES" 'BEGIN {printf "%.3f", r / n}')
for p in $(seq 0 $((NODES - 1))); do
	quiet=()
	if ((p == 0 && BIG > 0)) && [[ -n $BIG_PRESENCE ]]; then
		quiet=(--presence-broadcast "$BIG_PRESENCE" --presence-broadcast-min "$BIG")
	fi
	((JOIN_INTERLEAVED == 1)) && quiet+=(--join-interleaved)
	"$BIN/parley-bench" rooms --json --addr "$addrs" --storage "$(dsn "$DB")" \
		--offset $((p * PER_NODE)) --room-prefix "pool-p$p-" --mix "$(mix "$p")" \
		--login-rate "$(awk -v r="$LOGIN_RATE" -v n="$NODES" 'BEGIN {printf "%.3f", r / n}')" --max-inflight 16 \
		--login-timeout 120s --join-inflight 32 --join-timeout 300s \
		--rate "$per_rate" --duration $((DURATION + AFTER))s --grace 30s --progress 10s \
		--reconnect "$RECONNECT" --ready-file "$OUT/ready-p$p" --go-file "$OUT/go" --kill-file "$OUT/kill" "${quiet[@]}" \
		>"$OUT/p$p.json" 2>"$OUT/p$p.log" &
	pids+=($!)
done

say "logging in and joining"
started=$(date +%s)
while :; do
	ready=$(find "$OUT" -maxdepth 1 -name 'ready-p*' | wc -l)
	((ready == NODES)) && break
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || die "a bench process ended early: $(tail -3 "$OUT"/p*.log)"; done
	sleep 2
done
say "all joined after $(($(date +%s) - started)) s"
sample joined
sleep 2
touch "$OUT/go"
sample posting
say "posting for ${DURATION}s"
sleep "$DURATION"
sample steady_end
victim=$NODES
vpid=$(cat "$OUT/node$victim/pid")
date +%s%N >"$OUT/kill"
kill -9 "$vpid"
say "killed node$victim (pid $vpid)"
if [[ $RECONNECT == home ]]; then
	sleep "$RESTART_DELAY"
	say "restarting node$victim"
	start_node "$victim"
fi
sleep "$AFTER"
sample after_kill
say "waiting for the bench processes"
for p in "${pids[@]}"; do wait "$p" || true; done
pids=()
sample end

# Pool timings from the survivors' logs (logfmt time=...): the node
# declared lost, and the rooms re-homed after the kill.
kill_ns=$(cat "$OUT/kill")
{
	echo "# bench-pool $(date -u +%FT%TZ): $NODES nodes x $PER_NODE, big room $BIG (presence broadcast: ${BIG_PRESENCE:-every role}), $RATE posts/s, ${DURATION}s + ${AFTER}s after killing node$victim, reconnect $RECONNECT"
	echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	"$BIN/parley-bench" merge --kill-file "$OUT/kill" "$OUT"/p*.json || true
	lost_at="" last_host="" hosted=0
	for n in $(seq $((NODES - 1))); do
		while IFS= read -r line; do
			t=$(sed -E 's/^time=([^ ]+) .*/\1/' <<<"$line")
			ns=$(date -d "$t" +%s%N)
			((ns < kill_ns)) && continue
			case $line in
			*"node lost"*) [[ -z $lost_at || $ns -lt $lost_at ]] && lost_at=$ns ;;
			*"hosting room"*)
				hosted=$((hosted + 1))
				[[ -z $last_host || $ns -gt $last_host ]] && last_host=$ns
				;;
			esac
		done < <(grep -E 'node lost|hosting room' "$OUT/node$n/log" || true)
	done
	[[ -n $lost_at ]] && echo "node lost     declared $(awk -v d=$((lost_at - kill_ns)) 'BEGIN {printf "%.2f", d / 1e9}') s after the kill"
	[[ -n $last_host ]] && echo "re-homed      $hosted rooms claimed by the survivors after the kill, the last $(awk -v d=$((last_host - kill_ns)) 'BEGIN {printf "%.2f", d / 1e9}') s after it"
	echo "node samples (RSS kB, CPU s):"
	cat "$OUT/samples.txt"
} | tee "$OUT/summary.txt"
