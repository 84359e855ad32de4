# Parley: make run starts a working single-node server, make test runs the
# whole suite. See README.md.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO ?= go

.PHONY: build webclient webphone run test fuzz deb mariadb lint pool-demo pool-demo-stop bench bench-pool chaos

## build: compile parleyd and parleyctl into bin/; VERSION=1.0.0 names the
## release that --version prints (else 0.1.0-dev), with the git revision
VERSION ?=
REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
ifneq ($(REVISION),)
REVISION := $(REVISION)$(shell git diff --quiet HEAD -- 2>/dev/null || echo +modified)
endif
VERSION_PKG := github.com/parleychat/parley/cmd/internal/version
LDFLAGS := -X $(VERSION_PKG).revision=$(REVISION) $(if $(VERSION),-X $(VERSION_PKG).release=$(VERSION))
## The web client and the phone page are built in when npm is there (make
## webclient webphone); without them parleyd still builds, and / and /phone
## say how to add them.
build: $(if $(shell command -v npm),webclient webphone)
	$(GO) build -buildvcs=auto -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

## webclient: fetch the pinned Converse.js from npm, check its SHA-512 and
## put its browser files and licence in webclient/dist/converse (embedded
## into parleyd by package webclient)
CONVERSE_VERSION := 14.0.0
CONVERSE_SHA512 := 2c5520d37d230da955e3bbc8fefc953ea60f65f2585c56ee6eaf2fd1c1437b6cd735e786124dd4a74163fd64f34fab7ee9da3e700213a32ef77808fb44d0e3d9
WEBCLIENT_DIR := webclient/dist/converse
webclient: $(WEBCLIENT_DIR)/VERSION
$(WEBCLIENT_DIR)/VERSION: Makefile scripts/webclient.sh scripts/npm-fetch.sh
	@if [ "$$(cat $@ 2>/dev/null)" != "$(CONVERSE_VERSION)" ]; then \
		scripts/webclient.sh $(CONVERSE_VERSION) $(CONVERSE_SHA512) $(WEBCLIENT_DIR); \
	else touch $@; fi

## webphone: fetch the pinned SIP.js from npm, check its SHA-512, bundle
## its ES modules into one with esbuild (go tool esbuild, pinned in go.mod)
## and put it with its licence in webphone/dist/sipjs (embedded into
## parleyd by package webphone, the SIP phone page at /phone)
SIPJS_VERSION := 0.21.2
SIPJS_SHA512 := b52a9370882b39dd8884ffeb77bd0969b96f029f9f49f2d2c4ee2118d63a2e459163548aca04ceeceb49115fc141bf28231b4c471d0b13b9d417631aa866c5cc
WEBPHONE_DIR := webphone/dist/sipjs
webphone: $(WEBPHONE_DIR)/VERSION
$(WEBPHONE_DIR)/VERSION: Makefile scripts/webphone.sh scripts/npm-fetch.sh
	@if [ "$$(cat $@ 2>/dev/null)" != "$(SIPJS_VERSION)" ]; then \
		GO='$(GO)' scripts/webphone.sh $(SIPJS_VERSION) $(SIPJS_SHA512) $(WEBPHONE_DIR); \
	else touch $@; fi

## run: build, then start parleyd with the defaults (domain localhost, data
## in ./data); ARGS passes flags: make run ARGS='--log-level debug --sip ""'
ARGS ?=
run: build
	./bin/parleyd $(ARGS)

## deb: build the Debian package dist/parley_VERSION_amd64.deb (VERSION
## defaults to 0.1.0~dev): parleyd, parleyctl, the systemd unit, the
## config file /etc/parley/parley.toml and the manual pages, from
## dist/debian (scripts/deb.sh; needs dpkg-deb)
DEB_VERSION := $(or $(VERSION),0.1.0~dev)
deb:
	$(MAKE) --no-print-directory build VERSION='$(DEB_VERSION)'
	scripts/deb.sh '$(DEB_VERSION)' bin dist

## test: start the local MariaDB if needed, then run every test. The verbose
## output is filtered to test results and failure messages, so it shows the
## storage conformance suite running on SQLite and on MySQL and the slixmpp
## end-to-end test; any failure fails make (pipefail).
## Then every fuzz target runs for TEST_FUZZTIME (2s) beyond its seed
## corpus (scripts/fuzz.sh: about a minute in all).
TEST_FUZZTIME ?= 2s
## The interop package alone runs past go test's default 10 minutes on a
## loaded machine.
TEST_TIMEOUT ?= 40m
test: mariadb webclient webphone
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -v ./... 2>&1 | { grep -Ev '^=== (RUN|PAUSE|CONT|NAME)' || true; }
	scripts/fuzz.sh $(TEST_FUZZTIME)

## fuzz: run every fuzz target (XML stream, stanza writer, data forms,
## SASL/SCRAM, SIP requests, SUBSCRIBE, digest credentials, CPIM, address
## mapping) for FUZZTIME each (default 1m), one at a time; an input that
## fails is left in the package's testdata/fuzz/NAME/ to commit
FUZZTIME ?= 1m
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

## mariadb: start the local MariaDB if it is installed but not running
mariadb:
	@if command -v mariadbd >/dev/null && ! mysqladmin -uroot -h127.0.0.1 --protocol=tcp ping >/dev/null 2>&1; then \
		echo "starting the local MariaDB"; \
		install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true; \
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql; \
		for i in $$(seq 30); do \
			mysqladmin -uroot -h127.0.0.1 --protocol=tcp ping >/dev/null 2>&1 && break; \
			sleep 1; \
		done; \
		mysqladmin -uroot -h127.0.0.1 --protocol=tcp ping >/dev/null 2>&1 || echo "warning: MariaDB did not answer within 30s; the MySQL tests will fail" >&2; \
	fi

## pool-demo: start a local pool, 4 active nodes and 1 standby on
## 127.0.0.1-5 against the local MySQL, and print how to connect to each
## (scripts/pool-demo.sh; files and logs in ./pool-demo)
pool-demo: build mariadb
	scripts/pool-demo.sh start

## pool-demo-stop: stop the demo's nodes and drop its databases
pool-demo-stop:
	scripts/pool-demo.sh stop

## bench: build, then benchmark Parley on SQLite and on MySQL, Debian's
## Prosody and ejabberd one after the other, each started fresh with a
## generated configuration (limits and shapers off, room archiving on,
## STARTTLS required), with the short scenarios: logins, 100 rooms of 20 at
## rising post rates, the seed's room mix, one big room (a few minutes in
## all). Prints one markdown table with every server side by side; the
## reports are in bench-results/suite.json. BENCH_ARGS passes flags
## (bin/parley-bench suite -h): the long versions are flags, e.g.
## BENCH_ARGS='--servers parley-sqlite --sat-step 30s --big-room 16000'
BENCH_ARGS ?=
bench: build mariadb
	ulimit -n 20000 2>/dev/null || true; ./bin/parley-bench suite --out bench-results $(BENCH_ARGS)

## bench-pool: the seed's pool scale (scripts/bench-pool.sh): 4 nodes on
## 127.0.1.1-4 and one MySQL database, one bench process per node, the
## seed's room mix, 200 posts/s, then one node killed under load: latency,
## lost deliveries, per-node RSS and CPU, re-home time, reconnect storm.
## Small by default (4 x 500 sessions, 60 s + 30 s); the seed's scale:
## make bench-pool BENCH_POOL='PER_NODE=19500 BIG=4000 DURATION=600 RECONNECT=home'
BENCH_POOL ?=
bench-pool: build mariadb
	env $(BENCH_POOL) scripts/bench-pool.sh

## chaos: the chaos run (issue 18; minutes, not part of make test): a pool
## of four nodes on a MariaDB of its own under chat traffic, one fault per
## step (kill -9 a node, SIGSTOP a node past the node timeout, restart
## MariaDB, fill a node's data disk, drop packets on a node's 8011 link),
## every invariant checked after each (interop/chaos_test.go). As root, in
## a network namespace of its own (unshare -n), so its nft drop rules touch
## nothing else; nft rather than tc netem, which not every kernel has.
## CHAOS_SEED=S repeats a run's faults and targets; the log has a line per
## invariant per step and a table at the end (also in bin/chaos.log).
CHAOS_STEPS ?= 24
CHAOS_SEED ?= 0
chaos:
	$(GO) test -c -o bin/interop.test ./interop
	rm -rf bin/chaos-logs
	cd interop && unshare --net ../bin/interop.test -test.run '^TestChaos$$' -test.v -test.timeout 30m \
		-chaos.steps $(CHAOS_STEPS) -chaos.seed $(CHAOS_SEED) -chaos.logs ../bin/chaos-logs 2>&1 | tee ../bin/chaos.log | \
		{ grep -E '^(---|FAIL|ok|PASS)|chaos(: | step )|^\s+(\||[0-9]+ posts sent)|violated|exited' | grep -v 'level=' || true; }

## lint: fail on files gofmt would change, then go vet
lint:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
