// Command parley-bench is Parley's load generator: it creates benchmark
// users, holds many client sessions open, and drives 1:1 chat traffic
// between them, then reports what it measured (shared/DESIGN.md §8).
//
//	parley-bench users    --storage DSN --count N [--prefix bench] [--password PW]
//	parley-bench sessions --addr HOST:PORT --count N --rate R [--pid PID]
//	parley-bench chat     --addr HOST:PORT --pairs N --rate R --duration D [--pid PID]
//	parley-bench rooms    --addr HOST:PORT --storage DSN --rooms R --size K --rate P --duration D [--pid PID]
//	parley-bench rooms    --addr HOST:PORT --mix 1x16000,10x150,100x30 --rates 250,500,1000 ...
//	parley-bench rooms    ... --mix 1x4000,10x150,100x30 --presence-broadcast moderator --presence-broadcast-min 4000
//	parley-bench bigroom  --addr HOST:PORT --storage DSN --occupants 16000 --stalled 100 --rate P [--presence-broadcast moderator] [--pid PID]
//	parley-bench logins   --addr HOST:PORT --count N --rate 500 --kinds full,resume,fast [--pid PID]
//	parley-bench suite    [--servers parley-sqlite,parley-mysql,prosody,ejabberd] [--out DIR]
//	parley-bench table    DIR/suite.json ...
//
// Every command that logs in works against any XMPP server: --mech scram
// (SCRAM-SHA-256, or SCRAM-SHA-1 when that is all the server offers) or
// plain, STARTTLS unless --no-starttls, --register to create the accounts
// by in-band registration (XEP-0077) where the bench cannot write the
// server's database, --source 127.0.0.1-127.0.0.8 to spread the sessions
// over local addresses. Without --storage, rooms are created by their
// first occupant's join (the instant room of XEP-0045 §10.1.2).
//
// suite (make bench) starts each server in turn, fresh, with a generated
// configuration (servers.go says what is switched off), runs the short
// scenarios and prints one markdown table with every server side by side;
// table prints it again from the saved reports.
//
// users creates the accounts PREFIX0..PREFIX{N-1} directly in the content
// database (the same --storage DSN as the server's), skipping those that
// exist, on twice as many goroutines as there are CPUs (--workers).
//
// sessions opens N client sessions the way a real client does (TCP,
// STARTTLS without certificate verification, SASL SCRAM-SHA-256, resource
// binding, initial presence), at most R new ones per second, holds them
// open for --hold, checks that every one still answers a ping, and reports
// the sessions established, the failures by reason, the login latency
// percentiles and, given the server's --pid, the server's RSS before and
// after (kB per session) and its CPU time.
//
// chat logs in N pairs of sessions; the first of each pair sends chat
// messages carrying a timestamp to the second, R messages per second over
// all pairs, for D. It reports the send and delivery rates, the
// post→delivery latency percentiles and the messages lost (sent but not
// received by the end of --grace).
//
// rooms creates the open rooms bench-room-0..bench-room-{R-1} in the
// server's database (--storage) if they are missing, logs in R×K users
// (users PREFIX0..: session i is in room i/K), joins each to its room
// without history (XEP-0045 <history maxstanzas='0'/>; the subject ends the
// join), then posts P messages per second in total, each from a random
// occupant of a random room, for D. Every occupant measures the
// post→delivery latency of every post in its room, its own reflection
// included, so each post should be delivered K times. It reports posts,
// deliveries expected and received, lost, deliveries/s, the latency
// percentiles (all deliveries, and the reflections to the senders), and
// with --pid the server's RSS per joined session and CPU while posting.
// With --rate 0 it runs at saturation: a post is sent whenever fewer than
// --inflight posts await their reflection to their sender (the server
// commits a post before reflecting it), which finds the deliveries/s the
// server sustains and the latency it costs.
//
// Every command prints a report for people, or with --json one JSON object
// for scripts, on stdout; progress goes to stderr.
//
// # Limits of one bench process
//
// Each session is one TCP connection, so one file descriptor in the bench
// process and one in the server. With a limit of 20,000 open files per
// process (ulimit -n), one bench process holds about 19,900 sessions; the
// server needs the same headroom, so start parleyd from a shell where
// `ulimit -n 20000` was run. For 19,500 sessions or more, run two bench
// processes on disjoint users:
//
//	parley-bench sessions --count 9750 --hold 3m --pid $PID > first.txt &
//	sleep 60   # until the first has logged in
//	parley-bench sessions --count 9750 --offset 9750 --hold 15s --pid $PID
//
// The server's memory per session over both is then (RSS after, from the
// second report, minus RSS before, from the first) / 19,500; the first
// process's own "after" is taken once the second has closed its sessions.
//
// Every bench session comes from one IP address, and the server reads at
// most --ip-stanza-rate stanzas a second (default 2000) from one address:
// for logins of thousands of users or posts at saturation, start parleyd
// with --ip-stanza-rate 1000000 --ip-stanza-burst 1000000, or the bench
// measures that limit (compliance-cost.sh does).
//
// The server limits unauthenticated connections per IP address
// (--max-unauth-per-ip, default 20); --max-inflight (default 16) keeps the
// bench below it. It also delays each failed login from an address,
// doubling up to 30 s, so logins for users that do not exist (run users
// first) end up reported as "auth: timeout". Each login costs the bench
// one PBKDF2 (the SCRAM salted password), which on a small machine
// competes with the server for CPU.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `Usage: parley-bench COMMAND [flags]

Load generator and benchmark report for Parley.

Commands:
  users      create benchmark accounts directly in the content database
  sessions   open and hold many client sessions; login latency, server memory per session
  chat       send 1:1 messages between pairs of sessions; delivery rate and latency
  rooms      occupants of many rooms post to them; delivery rate, post->delivery latency
  bigroom    one room of many occupants (16,000): join time, posts/s and latency, and
             --stalled occupants that stop reading, which the server must cut off
  logins     login storms: full TLS + SCRAM, TLS resumption + SCRAM, TLS resumption + FAST
  suite      start Parley (SQLite, MySQL), Prosody and ejabberd in turn and run the
             scenarios on each; one table side by side (make bench)
  merge      add up the rooms reports of several bench processes (a pool run)
  table      print the side-by-side table of suite reports

Run "parley-bench COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first ^C stops the run and still prints the report; a second
	// one kills the process.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// report is what every command returns.
type report interface{ Text() string }

// run is the command without the process around it; it returns the exit
// code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var (
		fs       = flag.NewFlagSet("parley-bench "+args[0], flag.ContinueOnError)
		asJSON   = fs.Bool("json", false, "print the report as one JSON object")
		logLevel = fs.String("log-level", "info", "log progress at `LEVEL` and above on stderr: debug, info, warn or error")
		exec     func(context.Context, *slog.Logger) (report, error)
		synopsis string
	)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\n%s\nFlags:\n", fs.Name(), synopsis)
		fs.PrintDefaults()
	}
	switch args[0] {
	case "users":
		synopsis = `Creates the accounts PREFIX{offset}..PREFIX{offset+count-1} directly in the
content database, skipping those that exist, and reports the time taken.
Use the server's --storage DSN.
`
		var o usersOptions
		fs.StringVar(&o.Storage, "storage", "sqlite:data/parley.db", "the server's content database `DSN`: sqlite:PATH or mysql:USER@tcp(HOST:PORT)/DB")
		fs.IntVar(&o.Count, "count", 1000, "create `N` users")
		fs.IntVar(&o.Offset, "offset", 0, "number of the first user (bench`N`)")
		fs.StringVar(&o.Prefix, "prefix", "bench", "user names are `PREFIX`0, PREFIX1, …")
		fs.StringVar(&o.Password, "password", "bench", "every user's `PASSWORD`")
		fs.IntVar(&o.Workers, "workers", 2*runtime.NumCPU(), "create users on `N` goroutines (deriving credentials is CPU-bound; a few more than the CPUs hide database round trips)")
		exec = func(ctx context.Context, log *slog.Logger) (report, error) { return result(runUsers(ctx, log, o)) }
	case "sessions":
		synopsis = `Opens --count client sessions (TCP, STARTTLS, SCRAM-SHA-256, bind, initial
presence), at most --rate new ones per second, holds them for --hold, checks
that each still answers a ping, and reports sessions established, failures
by reason, login latency and, with --pid, the server's RSS per session.
One bench process holds at most ~19,900 sessions under a 20,000 open-files
limit: for more, run two with disjoint --offset.
`
		var o sessionsOptions
		o.register(fs, "rate")
		fs.IntVar(&o.Count, "count", 1000, "open `N` sessions")
		fs.DurationVar(&o.Hold, "hold", 10*time.Second, "keep the sessions open for `DURATION` after the last login, then measure (^C ends it early)")
		fs.DurationVar(&o.VerifyTimeout, "verify-timeout", 30*time.Second, "wait up to `DURATION` for every session to answer the final ping")
		fs.IntVar(&o.PID, "pid", 0, "the server's process id `PID`: report its RSS (kB per session) and CPU time from /proc")
		exec = func(ctx context.Context, log *slog.Logger) (report, error) { return result(runSessions(ctx, log, o)) }
	case "chat":
		synopsis = `Logs in --pairs pairs of sessions (users 2i send to users 2i+1), sends chat
messages carrying a timestamp at --rate messages per second in total for
--duration, waits up to --grace, and reports delivery rate, post->delivery
latency and lost messages.
`
		var o chatOptions
		o.register(fs, "login-rate")
		fs.IntVar(&o.Pairs, "pairs", 100, "run `N` pairs of sessions (2N users: even ones send, odd ones receive)")
		fs.Float64Var(&o.Rate, "rate", 100, "send `R` messages per second, all senders together")
		fs.DurationVar(&o.Duration, "duration", 30*time.Second, "send for `DURATION`")
		fs.DurationVar(&o.Grace, "grace", 5*time.Second, "then wait up to `DURATION` for messages still under way; those not received are lost")
		fs.IntVar(&o.PID, "pid", 0, "the server's process id `PID`: report its RSS and CPU time during the send phase")
		exec = func(ctx context.Context, log *slog.Logger) (report, error) { return result(runChat(ctx, log, o)) }
	case "rooms":
		synopsis = `Creates the open rooms ROOMPREFIX0..ROOMPREFIX{rooms-1} in --storage if missing,
logs in rooms×size users (user i occupies room i/size), joins each to its
room, then posts --rate posts per second in total, each from a random
occupant of a random room, for --duration; waits up to --grace and reports
deliveries expected (every post reaches every occupant, its sender
included) and received, lost, deliveries/s and post->delivery latency.
--rate 0 posts at saturation: whenever fewer than --inflight posts await
their reflection to their sender.
`
		var o roomsOptions
		o.register(fs, "login-rate")
		fs.StringVar(&o.Storage, "storage", "", "create missing rooms in the server's content database `DSN` (sqlite:PATH or mysql:USER@tcp(HOST:PORT)/DB); empty: the rooms must exist")
		fs.StringVar(&o.RoomPrefix, "room-prefix", "bench-room-", "rooms are `PREFIX`0, PREFIX1, … at conference.DOMAIN")
		fs.IntVar(&o.Rooms, "rooms", 10, "use `N` rooms")
		fs.IntVar(&o.Size, "size", 25, "put `K` occupants in each room")
		fs.StringVar(&o.Mix, "mix", "", "rooms of different sizes instead of --rooms×--size: `MIX` as COUNTxSIZE,… (e.g. 1x16000,10x150,100x30) or seed:USERS, the seed's planning model for USERS sessions (one room of USERS/20, at most 16,000; a quarter in rooms of 150; the rest in rooms of 30)")
		fs.StringVar(&o.MUCDomain, "muc-domain", "", "the rooms' `DOMAIN` (default conference.DOMAIN)")
		fs.DurationVar(&o.Progress, "progress", time.Second, "write a live progress line every `INTERVAL` while posting (0: never)")
		fs.Float64Var(&o.Rate, "rate", 100, "post `P` messages per second over all rooms; 0: saturation (see --inflight)")
		fs.Var((*rateList)(&o.Rates), "rates", "post at each of the rising `RATES` (posts/s, comma-separated) for --duration in turn, reporting deliveries/s and p99 of each step (replaces --rate)")
		fs.IntVar(&o.InFlight, "inflight", 64, "at saturation, keep `N` posts awaiting their reflection to their sender")
		fs.DurationVar(&o.Duration, "duration", 30*time.Second, "post for `DURATION`")
		fs.DurationVar(&o.Grace, "grace", 10*time.Second, "then wait up to `DURATION` for deliveries still under way; those not received are lost")
		fs.IntVar(&o.JoinInFlight, "join-inflight", 64, "at most `N` joins under way at once")
		fs.DurationVar(&o.JoinTimeout, "join-timeout", 30*time.Second, "give up on a join after `DURATION`")
		fs.StringVar(&o.PresenceBroadcast, "presence-broadcast", "", "have the rooms (with --presence-broadcast-min, the large ones) broadcast the presence of `ROLES` only (moderator, participant, visitor, comma-separated, or none), so that a quiet occupant's join is not sent to every occupant: each such room's first occupant submits muc#roomconfig_presencebroadcast in the owner form before the others join. With --storage (Parley) the bench makes it an owner of the room first; without, its join must create the room, or the form is refused and counts as a failed join")
		fs.BoolVar(&o.JoinInterleaved, "join-interleaved", false, "join the rooms' occupants in turn (the second of every room, then the third, …), so that the joins under way at once are in different rooms; default: room after room, so that they queue on one room at a time (a room takes its joins one by one)")
		fs.IntVar(&o.PresenceBroadcastMin, "presence-broadcast-min", 0, "apply --presence-broadcast only to the rooms of at least `N` occupants, e.g. the big room of a --mix (0: every room)")
		fs.DurationVar(&o.StallTimeout, "stall-timeout", 10*time.Second, "at saturation, stop when no post was reflected for `DURATION`")
		fs.IntVar(&o.PID, "pid", 0, "the server's process id `PID`: report its RSS per joined session and its CPU time while posting")
		fs.StringVar(&o.Reconnect, "reconnect", "", "log a session whose stream ends back in and rejoin it, `MODE` home (the same --addr again: its node is restarted) or next (the next --addr in turn: another pool node); empty: let it go")
		fs.StringVar(&o.ReadyFile, "ready-file", "", "create `FILE` once every session has joined (for an orchestrator)")
		fs.StringVar(&o.GoFile, "go-file", "", "start posting only once `FILE` exists (several bench processes start together)")
		fs.StringVar(&o.KillFile, "kill-file", "", "`FILE` that will hold the time (Unix nanoseconds) a pool node is killed: posts sent before and after are reported apart")
		exec = func(ctx context.Context, log *slog.Logger) (report, error) {
			if o.Reconnect != "" && o.Reconnect != "home" && o.Reconnect != "next" {
				return nil, fmt.Errorf("--reconnect %q: want home or next", o.Reconnect)
			}
			return result(runRooms(ctx, log, o))
		}
	case "bigroom":
		synopsis = `One room of --occupants sessions (the seed's largest is 16,000): creates the
room in --storage if missing, logs everyone in, joins them (join time), then
posts --rate posts/s for --duration with every occupant reading (the
baseline), then --stall-duration more at the same rate while the last
--stalled occupants stop reading their sockets (they connect with a
--stalled-rcvbuf TCP receive buffer, as a client on a bad link). Reports the
other occupants' post->delivery latency in each phase, lost, duplicated and
out-of-order deliveries (every occupant must see the room's one order), and
which stalled occupants the server cut off as slow consumers and when (read
from the kernel's TCP state, without reading the socket).
One process holds ~19,900 sessions: run more with --offset, each its own room.
`
		var o roomsOptions
		o.register(fs, "login-rate")
		o.Rooms = 1
		fs.StringVar(&o.Storage, "storage", "", "create the room in the server's content database `DSN` if missing (empty: it must exist, or the first join creates it)")
		fs.StringVar(&o.RoomPrefix, "room-prefix", "bench-bigroom-", "the room is `PREFIX`0 at conference.DOMAIN")
		fs.StringVar(&o.MUCDomain, "muc-domain", "", "the room's `DOMAIN` (default conference.DOMAIN)")
		fs.IntVar(&o.Size, "occupants", 1000, "put `N` occupants in the room")
		fs.IntVar(&o.Stalled, "stalled", 0, "of which `N` stop reading in the second phase (0: no second phase)")
		fs.IntVar(&o.StalledRecvBuffer, "stalled-rcvbuf", 8192, "the stalled occupants' TCP receive buffer, `BYTES`")
		fs.Float64Var(&o.Rate, "rate", 10, "post `P` messages per second, each from a random reading occupant")
		fs.IntVar(&o.BodySize, "body-size", 0, "pad each post's body with `BYTES` of filler")
		fs.StringVar(&o.PresenceBroadcast, "presence-broadcast", "", "have the room broadcast the presence of `ROLES` only (moderator, participant, visitor, comma-separated, or none): its first occupant submits muc#roomconfig_presencebroadcast in the owner form before the others join (with --storage, the bench makes it an owner first; without, its join must create the room)")
		fs.DurationVar(&o.Duration, "duration", 30*time.Second, "post for `DURATION` with every occupant reading")
		fs.DurationVar(&o.StallDuration, "stall-duration", 60*time.Second, "then post for `DURATION` with --stalled occupants not reading")
		fs.BoolVar(&o.StallUntilCut, "stall-until-cut", false, "end the stalled phase as soon as every stalled occupant is cut off (--stall-duration at most)")
		fs.DurationVar(&o.Grace, "grace", 40*time.Second, "then wait up to `DURATION` for deliveries under way and for the server to cut the stalled occupants off")
		fs.DurationVar(&o.Progress, "progress", 5*time.Second, "write a live progress line every `INTERVAL` while posting (0: never)")
		fs.IntVar(&o.JoinInFlight, "join-inflight", 64, "at most `N` joins under way at once")
		fs.DurationVar(&o.JoinTimeout, "join-timeout", 120*time.Second, "give up on a join after `DURATION`")
		fs.IntVar(&o.PID, "pid", 0, "the server's process id `PID`: report its RSS per joined session and its CPU time while posting")
		exec = func(ctx context.Context, log *slog.Logger) (report, error) {
			o.StallTimeout = o.Grace
			return result(runRooms(ctx, log, o))
		}
	case "logins":
		synopsis = `What a login costs the server, as storms of --rate logins/s by --count users
(each logs in once per storm), for each of --kinds: full (a new TLS
handshake, SASL2 SCRAM-SHA-256), resume (TLS resumed from a ticket, SCRAM)
and fast (TLS resumed, a FAST token: XEP-0484 HT-SHA-256-NONE). All use SASL2
with Bind2 (one round trip). Before each storm every user logs in once,
unmeasured, for its ticket and token; the bench keeps each password's SCRAM
keys, as clients do. Reports logins/s, p50/p99 and, with --pid, the server's
CPU per login.
`
		var o loginsOptions
		o.register(fs, "prepare-rate")
		fs.IntVar(&o.Count, "count", 2000, "`N` users log in, once per storm")
		fs.Float64Var(&o.StormRate, "rate", 500, "start `R` logins per second in each storm")
		kinds := fs.String("kinds", strings.Join(loginKinds, ","), "the `KINDS` of storm, in order: "+strings.Join(loginKinds, ", "))
		fs.BoolVar(&o.Hold, "hold", true, "keep each storm's sessions open until the storm ends (false: close each once logged in)")
		fs.IntVar(&o.PID, "pid", 0, "the server's process id `PID`: report its CPU per login")
		exec = func(ctx context.Context, log *slog.Logger) (report, error) {
			o.Kinds = strings.Split(*kinds, ",")
			return result(runLogins(ctx, log, o))
		}
	case "suite":
		synopsis = `Starts each server in turn, fresh, with a configuration generated for the run
(limits and shapers off, room archiving on; see servers.go), creates the
accounts, runs the scenarios against it and stops it; then prints one
markdown table with every server side by side (make bench). Scenarios:
login (sessions), saturation (rooms at rising post rates), mix (rooms of
different sizes) and one big room; a scenario with a zero size is skipped.
With --out DIR the full reports are in DIR/suite.json (parley-bench table
prints the table again, of one or several runs).
`
		var o suiteOptions
		fs.StringVar(&o.Bin, "bin", "bin", "find parleyd in `DIR`")
		fs.StringVar(&o.Out, "out", "", "write the reports to `DIR`/suite.json")
		fs.StringVar(&o.Work, "work", "", "keep the servers' files in `DIR` (default a temporary directory, removed)")
		fs.StringVar(&o.Domain, "domain", "localhost", "the servers' XMPP `DOMAIN`")
		fs.StringVar(&o.MySQL, "mysql", "root@tcp(127.0.0.1:3306)/", "the MySQL server for parley-mysql, as a DSN `PREFIX` to which a fresh database name is added")
		servers := fs.String("servers", strings.Join(serverKinds, ","), "benchmark the `SERVERS`, comma-separated, in order: "+strings.Join(serverKinds, ", "))
		parleyArgs := fs.String("parley-args", "", "extra parleyd `FLAGS`, space-separated")
		fs.Var(&o.Sources, "source", "connect from the local `ADDRESSES` in turn (see rooms -h)")
		fs.StringVar(&o.Mech, "mech", "scram", "log in with SASL `MECH`: scram or plain")
		fs.BoolVar(&o.NoTLS, "no-starttls", false, "do not negotiate STARTTLS (the generated configurations require it)")
		fs.StringVar(&o.Password, "password", "bench", "every user's `PASSWORD`")
		fs.IntVar(&o.LoginUsers, "login-users", 500, "login scenario: open `N` sessions")
		fs.Float64Var(&o.LoginRate, "login-rate", 200, "login scenario: at most `R` logins/s")
		fs.DurationVar(&o.Hold, "hold", 5*time.Second, "login scenario: hold the sessions `DURATION` before measuring memory")
		fs.IntVar(&o.SatRooms, "sat-rooms", 100, "saturation scenario: `N` rooms")
		fs.IntVar(&o.SatSize, "sat-size", 20, "saturation scenario: `K` occupants each")
		o.SatRates = rateList{250, 500, 1000, 2000}
		fs.Var(&o.SatRates, "sat-rates", "saturation scenario: the rising post `RATES`")
		fs.DurationVar(&o.SatStep, "sat-step", 5*time.Second, "saturation scenario: post at each rate for `DURATION`")
		fs.StringVar(&o.Mix, "mix", "seed:600", "mix scenario: rooms `MIX` (see rooms -h; empty: skip)")
		fs.Float64Var(&o.MixRate, "mix-rate", 100, "mix scenario: `P` posts/s")
		fs.DurationVar(&o.MixDuration, "mix-duration", 10*time.Second, "mix scenario: post for `DURATION`")
		fs.IntVar(&o.BigRoom, "big-room", 200, "big room scenario: `N` occupants in one room (0: skip)")
		fs.Float64Var(&o.BigRate, "big-rate", 10, "big room scenario: `P` posts/s")
		fs.DurationVar(&o.BigDuration, "big-duration", 10*time.Second, "big room scenario: post for `DURATION`")
		fs.Float64Var(&o.JoinRate, "join-rate", 200, "room scenarios: at most `R` logins/s before joining")
		exec = func(ctx context.Context, log *slog.Logger) (report, error) {
			o.Servers = strings.Split(*servers, ",")
			o.ParleyArgs = strings.Fields(*parleyArgs)
			return result(runSuite(ctx, log, o))
		}
	case "merge":
		synopsis = `Adds up the rooms reports (--json) of several bench processes run together
against one pool (scripts/bench-pool.sh): counts summed, latency histograms
merged, the reconnection storm measured from the kill (--kill-file).
`
		killFile := fs.String("kill-file", "", "the `FILE` holding the time (Unix nanoseconds) the node was killed")
		exec = func(ctx context.Context, log *slog.Logger) (report, error) {
			return result(runMerge(fs.Args(), *killFile))
		}
	case "table":
		synopsis = `Prints the side-by-side markdown table of the suite reports given
(suite.json files written by parley-bench suite --out), every server of
every report as a column.
`
		exec = func(ctx context.Context, log *slog.Logger) (report, error) { return result(runTable(fs.Args())) }
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "parley-bench: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 && args[0] != "table" && args[0] != "merge" {
		fmt.Fprintf(stderr, "parley-bench %s: unexpected argument %q\n", args[0], fs.Arg(0))
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "parley-bench: --log-level: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	r, err := exec(ctx, log)
	if r != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(stderr, "parley-bench: writing the report: %v\n", err)
				return exitFailure
			}
		} else {
			fmt.Fprint(stdout, r.Text())
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "parley-bench %s: %v\n", args[0], err)
		return exitFailure
	}
	return exitOK
}

// result turns a command's nil *Report (it failed before it had anything
// to report) into a nil report.
func result[R interface {
	comparable
	report
}](r R, err error) (report, error) {
	var none R
	if r == none {
		return nil, err
	}
	return r, err
}
