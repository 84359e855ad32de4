#!/usr/bin/env bash
# Measures failovers on a running pool demo (make pool-demo): each round
# brings every node back, lets two clients (scripts/pool-demo-chat.py, alice
# and carol on two active nodes that do not host the room) post into lobby
# every 100 ms, kills -9 the node hosting lobby, and reports
#   - when pool status shows the killed node down and the standby active,
#   - the longest silence alice saw after the kill (the room moving),
#   - both clients' checks against the archive: posts reflected, reflected
#     but missing from the archive, archived twice, archived but never
#     seen, sent but never reflected, refused by the room,
# and at the end the median and maximum times and the totals.
#
#   scripts/pool-demo-failover.sh [ROUNDS]     (default 5)
#
# Every posted line is distinct, and the check looks at the archive from
# the client's join on, so rounds do not disturb each other. Outputs of
# each round stay in $POOL_DEMO_DIR/failover/.
set -euo pipefail

cd "$(dirname "$0")/.."
demo=${POOL_DEMO_DIR:-$PWD/pool-demo}
case $demo in /*) ;; *) demo=$PWD/$demo ;; esac
rounds=${1:-5}
py=/usr/bin/python3
demo_sh=scripts/pool-demo.sh
chat=scripts/pool-demo-chat.py
out=$demo/failover
standby=5

[[ -f $demo/state ]] || { echo "pool-demo-failover: no demo running (make pool-demo)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$demo/state"
mkdir -p "$out"

sql() {
	mysql -N --protocol=tcp -h"${MYSQL_HOST:-127.0.0.1}" -P"${MYSQL_PORT:-3306}" -u"${MYSQL_USER:-root}" "$DB" -e "$1"
}

now() { date +%s.%N; }

# status_json prints, for pool status --json, "DOWN ACTIVE": whether node
# $1 is down and whether the standby is active.
status_of() {
	"$demo_sh" status --json | $py -c '
import json, sys
ns = {n["node"]: n for n in json.load(sys.stdin)}
print(int(not ns[sys.argv[1]]["up"]), int(ns[sys.argv[2]]["active"]))' "$1" "node$standby"
}

# all_up restarts killed nodes and waits for five up, the standby standing by.
all_up() {
	local n s
	for n in 1 2 3 4 5; do
		kill -0 "$(cat "$demo/node$n/pid")" 2>/dev/null || "$demo_sh" restart "$n" >/dev/null
	done
	for _ in $(seq 150); do
		s=$("$demo_sh" status 2>/dev/null || true)
		if grep -q "^5 of 5 nodes up, 4 active" <<<"$s" && grep -q "^node$standby *standby *standby" <<<"$s"; then
			return 0
		fi
		sleep 0.2
	done
	echo "pool-demo-failover: the nodes did not all come back" >&2
	exit 1
}

# longest_gap prints the longest time between two room messages in a chat
# output (with --timestamps) after the kill at epoch seconds $1.
longest_gap() {
	$py - "$1" "$2" <<-'EOF'
		import datetime, sys
		t0 = float(sys.argv[1])
		day = datetime.datetime.fromtimestamp(t0).date()
		prev, gap = t0, 0.0
		for line in open(sys.argv[2]):
		    if line[13:19] != "[node ":
		        continue
		    t = datetime.datetime.combine(day, datetime.datetime.strptime(line[:12], "%H:%M:%S.%f").time()).timestamp()
		    if t >= t0:
		        gap, prev = max(gap, t - prev), t
		print(f"{gap:.2f}")
	EOF
}

# checks sums the two clients' checks against the archive: posts
# reflected, reflected but missing, archived twice, archived but never
# seen, sent but never reflected.
checks() {
	$py - "$@" <<-'EOF'
		import re, sys
		tot = [0] * 5
		for f in sys.argv[1:]:
		    m = re.search(r"reflected: (\d+), missing from the archive: (\d+), archived twice: (\d+); "
		                  r"archived but never shown here: (\d+); sent but not reflected: (\d+)", open(f).read())
		    if m is None:
		        print(f"{f}: no check", file=sys.stderr)
		        continue
		    tot = [t + int(x) for t, x in zip(tot, m.groups())]
		print(*tot)
	EOF
}

posts() {
	local i
	for i in $(seq 1 100); do
		echo "$1 round $2 post $i"
		sleep 0.1
	done
}

rm -f "$out/summary"
printf '%-5s %-6s %-8s %-5s %-8s %-7s %-9s %-7s %-6s %-6s %-11s %s\n' ROUND KILLED CLIENTS DOWN STANDBY SILENCE REFLECTED MISSING TWICE UNSEEN UNREFLECTED REFUSED
for round in $(seq "$rounds"); do
	all_up
	# The room gets a host with one join.
	echo | $py "$chat" --user bob --password "$PASSWORD" --node 3 --ca "$demo/tls/cert.pem" --settle 0 >/dev/null 2>&1
	host=$(sql "SELECT node FROM room_hosts WHERE room = 'lobby'")
	[[ -n $host ]] || { echo "pool-demo-failover: lobby has no host" >&2; exit 1; }
	clients=()
	for n in 1 2 3 4; do
		if [[ node$n != "$host" ]]; then clients+=("$n"); fi
	done
	a=$out/$round-alice.out c=$out/$round-carol.out
	posts alice "$round" | $py "$chat" --user alice --password "$PASSWORD" --node "${clients[0]}" \
		--ca "$demo/tls/cert.pem" --timestamps >"$a" 2>/dev/null &
	posts carol "$round" | $py "$chat" --user carol --password "$PASSWORD" --node "${clients[1]}" \
		--ca "$demo/tls/cert.pem" --timestamps >"$c" 2>/dev/null &
	sleep 4
	t0=$(now)
	kill -9 "$(cat "$demo/$host/pid")"
	down="" up=""
	while [[ -z $down || -z $up ]]; do
		read -r d s < <(status_of "$host")
		t=$(now)
		if [[ -z $down && $d == 1 ]]; then down=$(printf '%.2fs' "$(bc <<<"$t - $t0")"); fi
		if [[ -z $up && $s == 1 ]]; then up=$(printf '%.2fs' "$(bc <<<"$t - $t0")"); fi
		sleep 0.1
	done
	wait
	gap=$(longest_gap "$t0" "$a")s
	read -r refl miss twice unseen unrefl < <(checks "$a" "$c")
	refused=$(cat "$a" "$c" | grep -c 'the room refused' || true)
	printf '%-5s %-6s %-8s %-5s %-8s %-7s %-9s %-7s %-6s %-6s %-11s %s\n' "$round" "$host" "${clients[0]},${clients[1]}" \
		"$down" "$up" "$gap" "$refl" "$miss" "$twice" "$unseen" "$unrefl" "$refused"
	echo "$up $gap $miss $twice" >>"$out/summary"
done
$py - "$out/summary" <<-'EOF'
	import statistics, sys
	rows = [l.split() for l in open(sys.argv[1])]
	up = [float(r[0].rstrip("s")) for r in rows]
	gap = [float(r[1].rstrip("s")) for r in rows]
	print(f"{len(rows)} rounds: standby active after median {statistics.median(up):.2f}s, max {max(up):.2f}s; "
	      f"longest silence median {statistics.median(gap):.2f}s, max {max(gap):.2f}s; "
	      f"reflected posts missing from the archive {sum(int(r[2]) for r in rows)}, archived twice {sum(int(r[3]) for r in rows)}")
EOF
