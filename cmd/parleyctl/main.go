// Command parleyctl administers a Parley node: it manages user accounts,
// categories, rooms and their managers, members and presenters directly in
// the content database, so it works whether or not parleyd is running
// (SQLite in WAL mode and MySQL both allow a second writer). Categories and
// rooms go through the room engine (package muc) acting as muc.ActorAdmin,
// so its rules (the categories' ethical walls) and its compliance capture
// apply to parleyctl as to anyone.
//
//	parleyctl [--config FILE] [--data DIR] [--storage DSN] [--domain NAME] user add NAME [--password PW]
//	parleyctl ... user list|passwd|sip-password|disable|sessions|kick|delete ...
//	parleyctl ... user tokens list USER | user tokens revoke USER --all|--agent ID
//	parleyctl ... ldap check USER
//	parleyctl ... category add|list|show|set|delete ...
//	parleyctl ... room create|list|show|set|disable|enable|delete ...
//	parleyctl ... room members|managers|presenters add|remove|list ROOM [USER...]
//	parleyctl ... room clear ROOM --before DATE
//	parleyctl ... message remove ROOM STANZA-ID [--text T]
//	parleyctl [--compliance-storage DSN] compliance status
//	parleyctl ... compliance hold add|remove|list [--user U | --room R] [--reason T]
//	parleyctl ... compliance export --from T --to T [--room R] [--user U] [--format xml|json] [--out FILE]
//	parleyctl ... reload
//	parleyctl ... import prosody|ejabberd|openfire --from PATH_OR_DSN [--host D] [--muc-host D] [--category C]
//	parleyctl ... backup --out FILE [--compliance]
//	parleyctl ... restore --in FILE
//	parleyctl --storage mysql:... pool status [--json]
//	parleyctl ... s2s list [--json]
//	parleyctl --storage mysql:... pool forget NODE
//
// With --server URL it runs the commands that go through the admin API
// (package admin: users, categories, rooms, compliance, pool status) on a
// running node instead, from any machine, logged in as one of its --admins
// (--server-user; the password from PARLEY_SERVER_PASSWORD,
// --server-password-file or the terminal); what it does is then recorded
// with that administrator as the actor.
//
// It reads the same configuration as parleyd (the same --config file is
// accepted as is). Exit status: 0 success, 1 failure (with a one-line reason
// on stderr), 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/cmd/internal/version"
	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// command is one parleyctl subcommand.
type command struct {
	// path is the words that select it, e.g. "user add".
	path  string
	args  string
	help  string
	flags func(fs *flag.FlagSet) // defines the command's own flags, may be nil
	// nargs is the number of positional arguments it takes; with
	// variadic, the least number.
	nargs    int
	variadic bool
	run      func(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error
}

// commands is every subcommand, in the order the usage text lists them.
var commands = []command{
	{path: "user add", args: "NAME [--password PW]", help: "create an account (password read from stdin unless given)", flags: passwordFlag, nargs: 1, run: userAdd},
	{path: "user list", help: "list the accounts", nargs: 0, run: userList},
	{path: "user passwd", args: "NAME [--password PW]", help: "set an account's password (read from stdin unless given)", flags: passwordFlag, nargs: 1, run: userPasswd},
	{path: "user sip-password", args: "NAME [--password PW]", help: "set an account's SIP password only (digest, RFC 8760), keeping its XMPP credentials: for directory users (--auth ldap), whose directory password SIP cannot check; read from stdin unless given", flags: passwordFlag, nargs: 1, run: userSIPPassword},
	{path: "user disable", args: "NAME", help: "take an account's credentials away (nobody can log in as it until user passwd) and, with --server, end its sessions", nargs: 1, run: userDisable},
	{path: "user sessions", help: "list the node's XMPP sessions and SIP registrations (with --server)", nargs: 0, run: userSessions},
	{path: "user kick", args: "NAME", help: "end a user's XMPP sessions and SIP registrations on the node (with --server); they may log in again unless disabled", nargs: 1, run: userKick},
	{path: "user delete", args: "NAME", help: "delete an account with its roster and offline messages", nargs: 1, run: userDelete},
	{path: "user tokens list", args: "USER", help: "list the devices that hold a FAST token (XEP-0484: log in without the password)", nargs: 1, run: userTokensList},
	{path: "user tokens revoke", args: "USER --all | --agent ID", help: "revoke FAST tokens: the device logs in with the password next time", flags: tokenRevokeFlags, nargs: 1, run: userTokensRevoke},

	{path: "ldap check", args: "USER", help: "find a user in the --auth ldap directory and show their entry and groups (nested groups included), as the group: entries of policy see them", nargs: 1, run: ldapCheck},

	{path: "category add", args: "NAME [FLAGS]", help: "create a category of rooms", flags: categoryAddFlags, nargs: 1, run: categoryAdd},
	{path: "category list", help: "list the categories", nargs: 0, run: categoryList},
	{path: "category show", args: "NAME", help: "show a category's policy and rooms", nargs: 1, run: categoryShow},
	{path: "category set", args: "NAME FLAGS", help: "change a category (only the flags given)", flags: categorySetFlags, nargs: 1, run: categorySet},
	{path: "category delete", args: "NAME", help: "delete a category that has no rooms", nargs: 1, run: categoryDelete},

	{path: "room create", args: "NAME [FLAGS]", help: "create a room (closed unless --privacy says otherwise)", flags: roomCreateFlags, nargs: 1, run: roomCreate},
	{path: "room list", args: "[--category C]", help: "list the rooms, of one category or all", flags: roomListFlags, nargs: 0, run: roomList},
	{path: "room show", args: "NAME", help: "show a room's settings, managers, members, presenters and outcasts", nargs: 1, run: roomShow},
	{path: "room set", args: "NAME FLAGS", help: "change a room's settings (only the flags given)", flags: roomSetFlags, nargs: 1, run: roomSet},
	{path: "room disable", args: "NAME", help: "refuse joins to a room, keeping it and its history", nargs: 1, run: roomDisable},
	{path: "room enable", args: "NAME", help: "allow joins to a disabled room again", nargs: 1, run: roomEnable},
	{path: "room clear", args: "NAME --before DATE", help: "delete a room's messages posted before DATE, except what legal holds cover", flags: roomClearFlags, nargs: 1, run: roomClear},
	{path: "message remove", args: "ROOM STANZA-ID [--text T]", help: "replace a message with T (or a notice) and mark it removed", flags: messageRemoveFlags, nargs: 2, run: messageRemove},
	{path: "room delete", args: "NAME [--reason R]", help: "delete a room with its history", flags: roomDeleteFlags, nargs: 1, run: roomDelete},

	{path: "room members add", args: "ROOM USER...", help: "make users members of a room", nargs: 2, variadic: true, run: placeCommand(admin.Members, opAdd)},
	{path: "room members remove", args: "ROOM USER...", help: "remove users from a room's members", nargs: 2, variadic: true, run: placeCommand(admin.Members, opRemove)},
	{path: "room members list", args: "ROOM", help: "list a room's members", nargs: 1, run: placeCommand(admin.Members, opList)},
	{path: "room managers add", args: "ROOM USER...", help: "make users managers (XEP-0045 owners) of a room", nargs: 2, variadic: true, run: placeCommand(admin.Managers, opAdd)},
	{path: "room managers remove", args: "ROOM USER...", help: "make managers of a room plain members", nargs: 2, variadic: true, run: placeCommand(admin.Managers, opRemove)},
	{path: "room managers list", args: "ROOM", help: "list a room's managers (owners and admins)", nargs: 1, run: placeCommand(admin.Managers, opList)},
	{path: "room presenters add", args: "ROOM USER...", help: "let users post in an auditorium (making them members)", nargs: 2, variadic: true, run: placeCommand(admin.Presenters, opAdd)},
	{path: "room presenters remove", args: "ROOM USER...", help: "take users' presenter right away (they stay members)", nargs: 2, variadic: true, run: placeCommand(admin.Presenters, opRemove)},
	{path: "room presenters list", args: "ROOM", help: "list a room's presenters", nargs: 1, run: placeCommand(admin.Presenters, opList)},

	{path: "compliance status", help: "show compliance capture: on/off, the active worker, lag, outbox backlog, events captured, adapters' last runs", nargs: 0, run: complianceStatus},
	{path: "compliance hold add", args: "--user U | --room R [--reason T]", help: "place a legal hold: nothing it covers is purged", flags: holdFlags, nargs: 0, run: holdAdd},
	{path: "compliance hold remove", args: "--user U | --room R [--reason T]", help: "lift a legal hold", flags: holdFlags, nargs: 0, run: holdRemove},
	{path: "compliance hold list", help: "list the legal holds", nargs: 0, run: holdList},
	{path: "compliance export", args: "--from T --to T [--room R] [--user U] [--format xml|json] [--out FILE]", help: "write the captured events of a time range as XML or JSON lines", flags: complianceExportFlags, nargs: 0, run: complianceExport},

	{path: "backup", args: "--out FILE [--compliance]", help: "write a consistent snapshot of the content database (and the compliance database) to FILE while parleyd serves", flags: backupFlags, nargs: 0, run: backup},
	{path: "restore", args: "--in FILE", help: "restore a backup into an empty data directory or database (then start parleyd)", flags: restoreFlags, nargs: 0, run: restore},
	{path: "reload", help: "make the parleyd running on --data reload its config file and TLS certificate (SIGHUP to the pid in DATA/parleyd.pid)", nargs: 0, run: reload},

	{path: "import prosody", args: "--from DIR|sqlite:FILE [--host D] [--muc-host D] [--category C]", help: "import accounts (with their SCRAM-SHA-1 keys), rosters, rooms, room archives and accounts' own archives from Prosody's internal or SQLite store; run again to resume", flags: importFlags, nargs: 0, run: importCommand("prosody")},
	{path: "import ejabberd", args: "--from mysql:DSN|sqlite:FILE [--host D] [--muc-host D] [--category C]", help: "import accounts, rosters, rooms, room archives and accounts' own archives from ejabberd's SQL database; run again to resume", flags: importFlags, nargs: 0, run: importCommand("ejabberd")},
	{path: "import openfire", args: "--from mysql:DSN|sqlite:FILE [--host D] [--muc-host D] [--category C]", help: "import rooms and their history from Openfire's database; run again to resume", flags: importFlags, nargs: 0, run: importCommand("openfire")},

	{path: "pool status", args: "[--json]", help: "list the pool's nodes: role, active or standby, health, sessions, rooms hosted, peers, bus and database latency (MySQL storage)", flags: poolStatusFlags, nargs: 0, run: poolStatus},
	{path: "pool forget", args: "NODE", help: "delete the status of a node that is down and will not come back", nargs: 1, run: poolForget},
	{path: "s2s list", args: "[--json]", help: "list the XMPP server-to-server links each node last published: direction, local and remote domain, state, auth method (dialback, certificate, or bidi over the peer's link), queued stanzas", flags: s2sListFlags, nargs: 0, run: s2sList},
}

// usageError is bad command-line usage: exit status 2 with the usage text.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// ctl is what a command runs with.
type ctl struct {
	cfg    *config.Config
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	store  storage.Store
	eng    *muc.Engine
	dir    *ldapauth.Directory // --auth ldap, once opened
	// remote is --server and its credentials; client the node's API,
	// once logged in.
	remote *remoteFlags
	client *admin.Client
}

// open opens the content database; commands call it once their arguments
// are known to be right.
func (c *ctl) open(ctx context.Context) (storage.Store, error) {
	if c.store != nil {
		return c.store, nil
	}
	if err := os.MkdirAll(c.cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	store, err := backend.Open(ctx, c.cfg.Storage, contentrules.Rules{})
	if err != nil {
		return nil, fmt.Errorf("opening storage: %w", err)
	}
	c.store = store
	return store, nil
}

// engine opens the content database and a room engine on it. The engine is
// parleyctl's own, not a running parleyd's: what it changes is stored at
// once, with an entry in the room change log that every running parleyd
// reads, so that occupants who lose access are removed there (muc
// revoke.go).
func (c *ctl) engine(ctx context.Context) (*muc.Engine, error) {
	if c.eng != nil {
		return c.eng, nil
	}
	store, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := c.groups()
	if err != nil {
		return nil, err
	}
	e, err := muc.New(ctx, muc.Config{Store: store, Logger: slog.New(slog.DiscardHandler), Groups: groups})
	if err != nil {
		return nil, fmt.Errorf("starting the room engine: %w", err)
	}
	c.eng = e
	return e, nil
}

// run is parleyctl's main without the process around it, for tests. It
// returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parleyctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr, fs) }
	loader := config.Register(fs, globalKeys...)
	remote := registerRemoteFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if loader.Version() {
		fmt.Fprintln(stdout, version.String("parleyctl"))
		return exitOK
	}

	cmd, rest := findCommand(fs.Args())
	if cmd == nil {
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "parleyctl: no command given")
		} else {
			fmt.Fprintf(stderr, "parleyctl: unknown command %q\n", strings.Join(fs.Args(), " "))
		}
		fs.Usage()
		return exitUsage
	}
	cfs := flag.NewFlagSet("parleyctl "+cmd.path, flag.ContinueOnError)
	cfs.SetOutput(stderr)
	cfs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: parleyctl [global flags] %s %s\n", cmd.path, cmd.args)
		config.PrintFlags(cfs)
	}
	if cmd.flags != nil {
		cmd.flags(cfs)
	}
	positional, err := parseInterspersed(cfs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case cmd.variadic && len(positional) < cmd.nargs:
		fmt.Fprintf(stderr, "parleyctl: %s: want at least %d argument(s), got %d\n", cmd.path, cmd.nargs, len(positional))
		cfs.Usage()
		return exitUsage
	case !cmd.variadic && len(positional) != cmd.nargs:
		fmt.Fprintf(stderr, "parleyctl: %s: want %d argument(s), got %d\n", cmd.path, cmd.nargs, len(positional))
		cfs.Usage()
		return exitUsage
	}

	cfg, err := loader.Load()
	if err != nil {
		fmt.Fprintf(stderr, "parleyctl: %v\n", err)
		return exitFailure
	}
	c := &ctl{cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr, remote: remote}
	err = remote.checkRemote(cmd)
	if err == nil {
		err = cmd.run(ctx, c, cfs, positional)
	}
	if c.client != nil {
		c.client.Close(ctx) // logs out; the session would end anyway
	}
	if err != nil {
		err = cliError(err, cfs)
	}
	if c.dir != nil {
		c.dir.Close()
	}
	if c.store != nil {
		if cerr := c.store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing storage: %w", cerr)
		}
	}
	if err != nil {
		what := strings.TrimSpace(cmd.path + " " + strings.Join(positional, " "))
		fmt.Fprintf(stderr, "parleyctl: %s: %s\n", what, oneLine(err))
		var ue usageError
		if errors.As(err, &ue) {
			cfs.Usage()
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// findCommand matches the leading words of args against the command
// paths and returns the command and the arguments after its path.
func findCommand(args []string) (*command, []string) {
	for i := range commands {
		words := strings.Fields(commands[i].path)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return &commands[i], args[len(words):]
		}
	}
	return nil, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments ("user add alice --password pw" and "user add
// --password pw alice"); "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if consumed := len(args) - fs.NArg(); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, fs.Args()...), nil
		}
		args = fs.Args()
		if len(args) > 0 {
			positional = append(positional, args[0])
			args = args[1:]
		}
	}
	return positional, nil
}

// oneLine keeps error output to one line, as scripts expect. A refusal by
// the room engine is shown by its reason alone (`no room "x"`).
func oneLine(err error) string {
	msg := err.Error()
	var refusal *muc.Error
	if errors.As(err, &refusal) && refusal.Reason != "" {
		msg = refusal.Reason
	}
	return strings.Join(strings.Fields(msg), " ")
}

// usage prints the global usage text.
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: parleyctl [global flags] COMMAND\n\nCommands:\n")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.path+" "+c.args))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, strings.TrimSpace(c.path+" "+c.args), c.help)
	}
	fmt.Fprintf(w, "\nA USER is a bare JID (alice@example.org) or a username at --domain (alice).\n")
	fmt.Fprintf(w, "Run parleyctl COMMAND --help for the FLAGS of a command.\n")
	fmt.Fprintf(w, "\nGlobal flags (the same as parleyd's; a shared --config file is accepted as is):\n")
	config.PrintFlags(fs)
	fmt.Fprintf(w, "\nExit status: 0 success, 1 failure, 2 bad usage.\n")
}

// globalKeys are the configuration keys parleyctl has flags for; the rest
// of a shared config file is accepted and not used.
var globalKeys = append([]string{"data", "storage", "domain", "compliance", "compliance-storage"}, ldapKeys...)
