#!/usr/bin/env bash
# A local Parley pool to try (issue 6): four active nodes and one standby on
# 127.0.0.1 … 127.0.0.5, against the local MySQL/MariaDB.
#
#   scripts/pool-demo.sh start    # what `make pool-demo` runs (after make build)
#   scripts/pool-demo.sh status   # parleyctl pool status on the demo's database
#   scripts/pool-demo.sh stop     # what `make pool-demo-stop` runs
#
# Everything lives in $POOL_DEMO_DIR (default ./pool-demo): each node's data
# directory and log, the shared certificate, the demo's settings (state).
# The MySQL server is reached as $MYSQL_USER@$MYSQL_HOST:$MYSQL_PORT (default
# root@127.0.0.1:3306, password in $MYSQL_PWD if any); each run creates a
# fresh database pair (content and compliance) and stop drops it.
# Linux only: it needs the whole 127.0.0.0/8 on the loopback interface.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
demo=${POOL_DEMO_DIR:-$root/pool-demo}
case $demo in /*) ;; *) demo=$root/$demo ;; esac
bin=$root/bin
mysql_host=${MYSQL_HOST:-127.0.0.1}
mysql_port=${MYSQL_PORT:-3306}
mysql_user=${MYSQL_USER:-root}
domain=localhost
room=lobby
nodes=(1 2 3 4 5) # node N runs on 127.0.0.N; the last one is the standby
standby=5

die() {
	echo "pool-demo: $*" >&2
	exit 1
}

sql() {
	mysql --protocol=tcp -h"$mysql_host" -P"$mysql_port" -u"$mysql_user" -e "$1"
}

# dsn is the go-sql-driver DSN of database $1.
dsn() {
	local auth=$mysql_user
	if [[ -n ${MYSQL_PWD:-} ]]; then auth+=":$MYSQL_PWD"; fi
	echo "mysql:$auth@tcp($mysql_host:$mysql_port)/$1"
}

ctl() {
	# shellcheck disable=SC2153 # DB is read from the state file
	"$bin/parleyctl" --data "$demo/ctl" --domain "$domain" --storage "$(dsn "$DB")" \
		--compliance-storage "$(dsn "${DB}_compliance")" "$@"
}

pid_alive() {
	[[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

running() {
	local n
	for n in "${nodes[@]}"; do
		if pid_alive "$demo/node$n/pid"; then return 0; fi
	done
	return 1
}

load_state() {
	[[ -f $demo/state ]] || die "no demo in $demo (start one with make pool-demo)"
	# shellcheck source=/dev/null
	source "$demo/state"
}

# peers lists every node's pool address but node $1's.
peers() {
	local n out=()
	for n in "${nodes[@]}"; do
		if [[ $n != "$1" ]]; then out+=("127.0.0.$n:8011"); fi
	done
	local IFS=,
	echo "${out[*]}"
}

start_node() {
	local n=$1 role=active dir=$demo/node$1
	if [[ $n == "$standby" ]]; then role=standby; fi
	mkdir -p "$dir/data"
	# setsid: the node outlives make and is not hit by the terminal's
	# Ctrl-C; stop (or kill) ends it.
	setsid "$bin/parleyd" \
		--data "$dir/data" --domain "$domain" \
		--storage "$(dsn "$DB")" --compliance-storage "$(dsn "${DB}_compliance")" \
		--pool "127.0.0.$n:8011" --pool-peers "$(peers "$n")" \
		--node "node$n" --node-role "$role" --pool-secret "$SECRET" \
		--xmpp-c2s "127.0.0.$n:5222" --xmpp-tls "127.0.0.$n:5223" \
		--http "127.0.0.$n:5280" --https "127.0.0.$n:5281" --upload-url "http://127.0.0.$n:5280" --admin-http "127.0.0.$n:5282" \
		--sip "127.0.0.$n:5060" --sip-tls "127.0.0.$n:5061" \
		--tls-cert "$demo/tls/cert.pem" --tls-key "$demo/tls/key.pem" \
		</dev/null >"$dir/log" 2>&1 &
	echo $! >"$dir/pid"
}

# certificate makes one self-signed certificate every node serves, so a
# client that trusts it once can reconnect to any node.
certificate() {
	mkdir -p "$demo/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=$domain" \
		-addext "subjectAltName=DNS:$domain,DNS:conference.$domain,DNS:upload.$domain,IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,IP:127.0.0.4,IP:127.0.0.5" \
		-keyout "$demo/tls/key.pem" -out "$demo/tls/cert.pem" 2>/dev/null ||
		die "openssl could not make the demo certificate"
}

# wait_up waits until pool status shows every node up, four active.
wait_up() {
	local i summary want="${#nodes[@]} of ${#nodes[@]} nodes up, $((${#nodes[@]} - 1)) active"
	for i in $(seq 60); do
		summary=$(ctl pool status 2>/dev/null | tail -n1 || true)
		if [[ $summary == "$want"* ]]; then
			echo "pool-demo: all nodes up after ${i}s"
			return 0
		fi
		for n in "${nodes[@]}"; do
			if ! pid_alive "$demo/node$n/pid"; then
				tail -n 20 "$demo/node$n/log" >&2
				die "node$n exited during start-up (its log is $demo/node$n/log); make pool-demo-stop cleans up"
			fi
		done
		sleep 1
	done
	ctl pool status >&2 || true
	die "the nodes were not all up after 60s; logs in $demo/node*/log; make pool-demo-stop cleans up"
}

baresip_config() {
	local dir=$demo/baresip-bob
	mkdir -p "$dir"
	cat >"$dir/config" <<-EOF
		poll_method		poll
		sip_listen		127.0.0.1:5070
		sip_trans_def		udp
		net_interface		127.0.0.1
		module_path		/usr/lib/baresip/modules
		module			stdio.so
		module			cons.so
		module_app		account.so
		module_app		contact.so
		module_app		menu.so
		cons_listen		127.0.0.1:5555
		audio_player		aufile,/dev/null
		audio_source		aufile,/dev/null
	EOF
	echo "<sip:bob@$domain>;auth_pass=$PASSWORD;outbound=\"sip:127.0.0.3:5060;transport=udp\";regint=600;answermode=manual" >"$dir/accounts"
	echo "\"$room\" <sip:$room@conference.$domain>" >"$dir/contacts"
}

start() {
	[[ -x $bin/parleyd && -x $bin/parleyctl ]] || die "no bin/parleyd or bin/parleyctl: run make build (make pool-demo does)"
	command -v mysql >/dev/null || die "the mysql client is missing (apt-get install mariadb-client)"
	command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
	if [[ -d $demo ]] && running; then
		die "a demo is running from $demo: stop it first with make pool-demo-stop"
	fi
	if [[ -f $demo/state ]]; then
		echo "pool-demo: dropping the databases of the previous demo"
		stop >/dev/null
	fi
	sql "SELECT 1" >/dev/null || die "MySQL at $mysql_host:$mysql_port does not answer (make mariadb starts the local one)"
	rm -rf "$demo"
	mkdir -p "$demo/ctl"

	local run
	run=$(date +%Y%m%d%H%M%S)
	DB=parley_demo_$run
	SECRET=$(openssl rand -hex 24)
	PASSWORD=demo-$(openssl rand -hex 4)
	# The state file is what stop and status need, and it records the
	# secret and the password for whoever runs the demo.
	cat >"$demo/state" <<-EOF
		DB=$DB
		SECRET=$SECRET
		PASSWORD=$PASSWORD
	EOF
	sql "CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; CREATE DATABASE ${DB}_compliance CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	echo "pool-demo: databases $DB and ${DB}_compliance on $mysql_host:$mysql_port"

	local u
	for u in alice bob carol; do
		ctl user add "$u" --password "$PASSWORD" >/dev/null
	done
	ctl room create "$room" --privacy open --title "Pool demo lobby" >/dev/null
	echo "pool-demo: users alice, bob, carol (password $PASSWORD); open room $room@conference.$domain"

	certificate
	for n in "${nodes[@]}"; do
		start_node "$n"
	done
	echo "pool-demo: started node1 … node${#nodes[@]} (logs in $demo/nodeN/log); waiting for them to see each other"
	wait_up
	baresip_config
	echo
	ctl pool status
	instructions
}

instructions() {
	cat <<-EOF

		Parley pool demo: node1…node4 active, node5 standby, one MySQL database pair.
		Every node serves the same users and rooms; its ports are on its own address:
		  node N: XMPP 127.0.0.N:5222 (STARTTLS) and :5223 (direct TLS), SIP 127.0.0.N:5060
		          (UDP/TCP) and :5061 (TLS), HTTP 127.0.0.N:5280, pool link 127.0.0.N:8011
		Users alice, bob, carol @$domain, password $PASSWORD; open room $room@conference.$domain.
		Every node serves the certificate $demo/tls/cert.pem (self-signed: trust it).

		XMPP, Profanity (node 2):
		  /connect alice@$domain server 127.0.0.2 port 5222 tls force
		  /join $room@conference.$domain

		XMPP, slixmpp (Debian python3-slixmpp): chat in the room from node 1; lines you
		type are posted; if the node dies it reconnects to the next node, rejoins and
		fetches what it missed from the archive (MAM):
		  /usr/bin/python3 scripts/pool-demo-chat.py --user alice --password $PASSWORD --node 1 --ca $demo/tls/cert.pem

		SIP, baresip as bob on node 3 (config made in $demo/baresip-bob, room as contact):
		  baresip -f $demo/baresip-bob
		  then type: /message /join bob      and then: /message hello from SIP
		  (account line: <sip:bob@$domain>;auth_pass=$PASSWORD;outbound="sip:127.0.0.3:5060;transport=udp")

		Watch the pool (health, sessions, rooms hosted, latencies):
		  scripts/pool-demo.sh status        # or: watch -n1 scripts/pool-demo.sh status

		Fail a node: kill -9 \$(cat $demo/node1/pid)
		  pool status shows node1 down within 6 s, its rooms re-home to live active nodes and
		  node5 (standby) turns active; clients of node1 reconnect to another node.
		  Bring it back: scripts/pool-demo.sh restart 1    (node5 then steps back to standby)

		Stop the demo and drop its databases: make pool-demo-stop
	EOF
}

status() {
	load_state
	ctl pool status "$@"
}

# restart starts node $1 again, on the demo's settings.
restart() {
	load_state
	local n=${1:-}
	[[ " ${nodes[*]} " == *" $n "* ]] || die "restart: which node? 1 … ${#nodes[@]}"
	if pid_alive "$demo/node$n/pid"; then die "node$n is running"; fi
	mv -f "$demo/node$n/log" "$demo/node$n/log.$(date +%H%M%S)" 2>/dev/null || true
	start_node "$n"
	echo "pool-demo: node$n started again (log $demo/node$n/log)"
}

stop() {
	load_state
	local n pid
	for n in "${nodes[@]}"; do
		if pid_alive "$demo/node$n/pid"; then
			pid=$(cat "$demo/node$n/pid")
			kill -TERM "$pid"
			for _ in $(seq 20); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.5
			done
			if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
			echo "pool-demo: stopped node$n"
		fi
		rm -f "$demo/node$n/pid"
	done
	sql "DROP DATABASE IF EXISTS $DB; DROP DATABASE IF EXISTS ${DB}_compliance"
	rm -f "$demo/state"
	echo "pool-demo: dropped databases $DB and ${DB}_compliance; logs stay in $demo"
}

case ${1:-} in
start) start ;;
status) shift && status "$@" ;;
restart) restart "${2:-}" ;;
stop) stop ;;
*)
	echo "usage: $0 start|status [--json]|restart N|stop" >&2
	exit 2
	;;
esac
