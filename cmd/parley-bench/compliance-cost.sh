#!/usr/bin/env bash
# compliance-cost.sh: what compliance costs posting. Runs parley-bench rooms
# at saturation (40 rooms of 25, 16 posts in flight) against one parleyd on
# the same data, alternately with --compliance=false and --compliance=true,
# RUNS times each, and prints posts/s and p99 post->delivery for both.
#
# Off never stops capture (every post still writes its outbox event in its
# own transaction): the difference measured is the worker copying the
# outbox into the compliance database while the room engine posts. Each
# "on" run starts with an empty outbox, so it does not pay for the backlog
# the "off" run before it left.
#
#   make build && cmd/parley-bench/compliance-cost.sh sqlite
#   cmd/parley-bench/compliance-cost.sh mysql   # root@127.0.0.1:3306, databases parley_ccost*
#
# Environment: BIN (default ./bin), RUNS (4), DURATION (15s), PORT (25222;
# PORT+1 is parleyd's HTTP port).
set -euo pipefail

kind=${1:?usage: compliance-cost.sh sqlite|mysql}
bin=${BIN:-./bin}
runs=${RUNS:-4}
duration=${DURATION:-15s}
port=${PORT:-25222}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case $kind in
sqlite)
	storage=sqlite:$work/parley.db
	cstorage=sqlite:$work/compliance.db
	;;
mysql)
	mysql -uroot -h127.0.0.1 --protocol=tcp -e 'DROP DATABASE IF EXISTS parley_ccost; DROP DATABASE IF EXISTS parley_ccost_c'
	storage='mysql:root@tcp(127.0.0.1:3306)/parley_ccost'
	cstorage='mysql:root@tcp(127.0.0.1:3306)/parley_ccost_c'
	;;
*)
	echo "unknown kind $kind: want sqlite or mysql" >&2
	exit 2
	;;
esac
common=(--data "$work" --storage "$storage" --compliance-storage "$cstorage")
"$bin/parley-bench" users --storage "$storage" --count 1000 >/dev/null

backlog() { "$bin/parleyctl" "${common[@]}" compliance status | awk '/^outbox backlog/ {print $3}'; }

for run in $(seq "$runs"); do
	for on in false true; do
		"$bin/parleyd" "${common[@]}" --compliance="$on" --compliance-adapter none \
			--xmpp-c2s "127.0.0.1:$port" --xmpp-tls "" --http "127.0.0.1:$((port + 1))" --admin-http "" \
			--sip "" --sip-tls "" --log-level warn \
			--ip-stanza-rate 1000000 --ip-stanza-burst 1000000 >/dev/null 2>"$work/parleyd.err" &
		pid=$!
		for _ in $(seq 100); do
			curl -sf "http://127.0.0.1:$((port + 1))/healthz" >/dev/null && break
			sleep 0.1
		done
		if [ "$on" = true ]; then
			for _ in $(seq 300); do
				[ "$(backlog)" = 0 ] && break
				sleep 0.2
			done
		fi
		"$bin/parley-bench" rooms --json --addr "127.0.0.1:$port" --storage "$storage" \
			--rooms 40 --size 25 --rate 0 --inflight 16 --duration "$duration" --grace 5s \
			--max-inflight 8 --pid "$pid" --log-level error >"$work/bench-$run-$on.json"
		kill -TERM "$pid"
		wait "$pid" || true
	done
done

python3 - "$work" "$runs" "$kind" <<'EOF'
import json, sys
work, runs, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
mean = {}
for on in ("false", "true"):
    rates, p99 = [], []
    for run in range(1, runs + 1):
        d = json.load(open(f"{work}/bench-{run}-{on}.json"))
        rates.append(d["post_rate"])
        p99.append(d["latency_ms"]["p99_ms"])
    mean[on] = sum(rates) / len(rates)
    print(f"{kind} compliance={on:5}: posts/s {' '.join(f'{r:.0f}' for r in rates)} "
          f"(mean {mean[on]:.0f}); p99 post->delivery ms {' '.join(f'{p:.0f}' for p in p99)}")
print(f"{kind}: compliance on posts {100 * (mean['true'] / mean['false'] - 1):+.1f}% of off")
EOF
