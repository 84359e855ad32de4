package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/muc"
)

// parleyctl works on the node's database where it runs, or with --server
// on a running node's admin API (package admin, the same operations) from
// anywhere: as an administrator (--admins), logging in with the account's
// password, which never goes on the command line.

// Environment variables for --server and its credentials.
const (
	envServer       = "PARLEY_SERVER"
	envServerUser   = "PARLEY_SERVER_USER"
	envServerPW     = "PARLEY_SERVER_PASSWORD"
	envServerPWFile = "PARLEY_SERVER_PASSWORD_FILE"
	envServerCA     = "PARLEY_SERVER_CA"
)

// remoteFlags are the global flags that point parleyctl at a running
// node.
type remoteFlags struct {
	server, user, passwordFile, ca string
}

func registerRemoteFlags(fs *flag.FlagSet) *remoteFlags {
	r := &remoteFlags{}
	fs.StringVar(&r.server, "server", os.Getenv(envServer),
		"run the command on the running node at `URL` (https://HOST:PORT, its --https) through its admin API instead of on the database here (env "+envServer+")")
	fs.StringVar(&r.user, "server-user", os.Getenv(envServerUser),
		"log in to --server as the administrator `USER` (env "+envServerUser+"); the password comes from "+envServerPW+", --server-password-file or the terminal")
	fs.StringVar(&r.passwordFile, "server-password-file", os.Getenv(envServerPWFile),
		"read the --server-user's password from the first line of `FILE` (env "+envServerPWFile+")")
	fs.StringVar(&r.ca, "server-ca", os.Getenv(envServerCA),
		"trust the certificates in PEM `FILE` for --server (its self-signed one is DATA/tls/cert.pem on the node; env "+envServerCA+")")
	return r
}

// apiCommands are the commands that run through the admin API, and so
// also with --server; the others need the node's machine (its database,
// its files, its process).
var apiCommands = []string{
	"user add", "user list", "user passwd", "user sip-password", "user disable", "user delete", "user sessions", "user kick",
	"category add", "category list", "category show", "category set", "category delete",
	"room create", "room list", "room show", "room set", "room disable", "room enable", "room clear", "message remove", "room delete",
	"room members add", "room members remove", "room members list",
	"room managers add", "room managers remove", "room managers list",
	"room presenters add", "room presenters remove", "room presenters list",
	"compliance status", "compliance hold add", "compliance hold remove", "compliance hold list", "compliance export",
	"pool status",
}

// checkRemote refuses a command that cannot run with --server.
func (r *remoteFlags) checkRemote(cmd *command) error {
	if r.server != "" && !slices.Contains(apiCommands, cmd.path) {
		return fmt.Errorf("%s runs on the node's machine only, not with --server", cmd.path)
	}
	return nil
}

// api returns the administration to run the command with: the running
// node's (--server), logged in once, or this machine's on the database
// as parleyctl.
func (c *ctl) api(ctx context.Context) (admin.API, error) {
	if c.remote.server != "" {
		if c.client == nil {
			if err := c.dial(ctx); err != nil {
				return nil, err
			}
		}
		return c.client, nil
	}
	if _, err := c.open(ctx); err != nil {
		return nil, err
	}
	var groups admin.GroupChecker // nil interfaces without a directory
	var users admin.DirectoryUsers
	if d, err := c.directory(); err != nil {
		return nil, err
	} else if d != nil {
		groups, users = d, d
	}
	svc := admin.New(admin.Config{
		Domain: c.cfg.Domain, Store: c.store,
		Engine:                 func(ctx context.Context) (admin.Engine, error) { return c.engine(ctx) },
		Data:                   c.cfg.Data,
		Compliance:             c.cfg.Compliance,
		ComplianceStorage:      c.cfg.ComplianceStorage,
		ComplianceStorageShown: config.RedactDSN(c.cfg.ComplianceStorage),
		ExternalAuth:           c.cfg.Auth == "ldap",
		Directory:              c.cfg.Auth == "ldap",
		Groups:                 groups,
		DirectoryUsers:         users,
	})
	return svc.As(muc.ActorAdmin), nil
}

// dial logs in to --server.
func (c *ctl) dial(ctx context.Context) error {
	r := c.remote
	if r.user == "" {
		return usageError{"--server needs --server-user (or " + envServerUser + ")"}
	}
	password, err := r.password(c)
	if err != nil {
		return err
	}
	client, err := admin.Dial(ctx, r.server, r.user, password, admin.ClientOptions{CAFile: r.ca})
	if err != nil {
		return err
	}
	c.client = client
	return nil
}

// password is the --server-user's password: from the environment, the
// password file, or asked on the terminal.
func (r *remoteFlags) password(c *ctl) (string, error) {
	if pw := os.Getenv(envServerPW); pw != "" {
		return pw, nil
	}
	if r.passwordFile != "" {
		b, err := os.ReadFile(r.passwordFile)
		if err != nil {
			return "", fmt.Errorf("--server-password-file: %w", err)
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		if pw = strings.TrimRight(pw, "\r"); pw == "" {
			return "", fmt.Errorf("--server-password-file %s: empty", r.passwordFile)
		}
		return pw, nil
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no password for --server-user: set " + envServerPW + " or --server-password-file, or run on a terminal")
	}
	fmt.Fprintf(c.stderr, "Password for %s at %s: ", r.user, r.server)
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return string(pw), nil
}

// cliError words an operation's error for the command line: a bad field
// as its flag (--deny: …), a request that can never succeed as a usage
// error.
func cliError(err error, fs *flag.FlagSet) error {
	var fe *admin.FieldError
	if errors.As(err, &fe) {
		var br *admin.BadRequest
		msg := fe.Err.Error()
		if fs.Lookup(fe.Field) != nil {
			msg = "--" + fe.Field + ": " + msg
		}
		if errors.As(fe.Err, &br) {
			return usageError{msg}
		}
		return errors.New(msg)
	}
	var br *admin.BadRequest
	if errors.As(err, &br) {
		return usageError{br.Msg}
	}
	return err
}
