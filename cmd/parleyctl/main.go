// Command parleyctl administers a Parley node: it manages user accounts
// directly in the content database, so it works whether or not parleyd is
// running (SQLite in WAL mode and MySQL both allow a second writer).
//
//	parleyctl [--config FILE] [--data DIR] [--storage DSN] [--domain NAME] user add NAME [--password PW]
//	parleyctl ... user list
//	parleyctl ... user passwd NAME [--password PW]
//	parleyctl ... user delete NAME
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
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/parleychat/parley/cmd/internal/config"
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
	// nargs is the number of positional arguments it takes.
	nargs int
	run   func(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error
}

// commands is every subcommand, in the order the usage text lists them.
var commands = []command{
	{path: "user add", args: "NAME [--password PW]", help: "create an account (password read from stdin unless given)", flags: passwordFlag, nargs: 1, run: userAdd},
	{path: "user list", help: "list the accounts", nargs: 0, run: userList},
	{path: "user passwd", args: "NAME [--password PW]", help: "set an account's password (read from stdin unless given)", flags: passwordFlag, nargs: 1, run: userPasswd},
	{path: "user delete", args: "NAME", help: "delete an account with its roster and offline messages", nargs: 1, run: userDelete},
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
}

// open opens the content database; commands call it once their arguments
// are known to be right.
func (c *ctl) open(ctx context.Context) (storage.Store, error) {
	if err := os.MkdirAll(c.cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	store, err := backend.Open(ctx, c.cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("opening storage: %w", err)
	}
	c.store = store
	return store, nil
}

// run is parleyctl's main without the process around it, for tests. It
// returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parleyctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr, fs) }
	loader := config.Register(fs, "data", "storage", "domain")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
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
	if len(positional) != cmd.nargs {
		fmt.Fprintf(stderr, "parleyctl: %s: want %d argument(s), got %d\n", cmd.path, cmd.nargs, len(positional))
		cfs.Usage()
		return exitUsage
	}

	cfg, err := loader.Load()
	if err != nil {
		fmt.Fprintf(stderr, "parleyctl: %v\n", err)
		return exitFailure
	}
	c := &ctl{cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr}
	err = cmd.run(ctx, c, cfs, positional)
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

// oneLine keeps error output to one line, as scripts expect.
func oneLine(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, storage.ErrExists):
		msg = "user already exists"
	case errors.Is(err, storage.ErrNotFound):
		msg = "no such user"
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
	fmt.Fprintf(w, "\nGlobal flags (the same as parleyd's; a shared --config file is accepted as is):\n")
	config.PrintFlags(fs)
	fmt.Fprintf(w, "\nExit status: 0 success, 1 failure, 2 bad usage.\n")
}
