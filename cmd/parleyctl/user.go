package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/term"

	"github.com/parleychat/parley/admin"
	"github.com/parleychat/parley/storage"
)

// passwordFlag defines --password for user add and user passwd.
func passwordFlag(fs *flag.FlagSet) {
	fs.String("password", "", "the new password `PW` (visible to other local users in ps; stdin is safer)")
}

// userAdd creates an account: parleyctl user add NAME [--password PW].
func userAdd(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	password, err := c.password(fs, args[0])
	if err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	u, err := api.AddUser(ctx, args[0], password)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "added %s\n", u.JID)
	return nil
}

// userList prints every account's username, one per line, in order; a
// disabled one with "(disabled)".
func userList(ctx context.Context, c *ctl, _ *flag.FlagSet, _ []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	users, err := api.Users(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.Disabled {
			fmt.Fprintln(c.stdout, u.Name, "(disabled)")
		} else {
			fmt.Fprintln(c.stdout, u.Name)
		}
	}
	return nil
}

// userPasswd replaces an account's credentials: parleyctl user passwd NAME
// [--password PW]. Sessions already logged in stay logged in; a disabled
// account is enabled again.
func userPasswd(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	return setUserPassword(ctx, c, fs, args[0], admin.API.SetPassword, "changed the password of %s\n")
}

// setUserPassword is user passwd and user sip-password: it reads name's
// new password (--password, the terminal or stdin), sets it with set
// through the admin API (locally, or on --server) and prints done, a
// format given the account's JID.
func setUserPassword(ctx context.Context, c *ctl, fs *flag.FlagSet, name string,
	set func(admin.API, context.Context, string, string) (admin.User, error), done string) error {
	password, err := c.password(fs, name)
	if err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	u, err := set(api, ctx, name, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, done, u.JID)
	return nil
}

// userDisable takes an account's credentials away and ends its sessions
// on the node (with --server): parleyctl user disable NAME.
func userDisable(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	u, err := api.DisableUser(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "disabled %s (user passwd enables it again)\n", u.JID)
	return nil
}

// userDelete removes an account with its roster and offline messages.
func userDelete(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	u, err := api.DeleteUser(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted %s\n", u.JID)
	return nil
}

// userSessions lists the node's XMPP sessions and SIP registrations
// (--server).
func userSessions(ctx context.Context, c *ctl, _ *flag.FlagSet, _ []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	sessions, err := api.Sessions(ctx)
	if err != nil {
		return err
	}
	rows := [][]string{{"SESSION", "KIND", "STATE"}}
	for _, s := range sessions {
		state := "not available"
		switch {
		case s.Kind == "sip":
			state = "registered, contact " + s.Contact
		case s.Detached:
			state = "detached (may resume)"
		case s.Available:
			state = "available"
		}
		rows = append(rows, []string{s.JID, s.Kind, state})
	}
	return writeTable(c.stdout, rows)
}

// userKick ends a user's XMPP sessions and SIP registrations on the node
// (--server).
func userKick(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	n, err := api.Kick(ctx, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "ended %d sessions of %s\n", n, args[0])
	return nil
}

// accountError words the storage errors of account commands for people.
func accountError(err error) error {
	switch {
	case errors.Is(err, storage.ErrExists):
		return admin.ErrUserExists
	case errors.Is(err, storage.ErrNotFound):
		return admin.ErrNoUser
	}
	return err
}

// password returns --password if it was given; otherwise it asks twice on
// the terminal without echo, or reads one line when stdin is not a
// terminal (echo pw | parleyctl user add alice).
func (c *ctl) password(fs *flag.FlagSet, name string) (string, error) {
	var given bool
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "password" })
	if given {
		pw := fs.Lookup("password").Value.String()
		if pw == "" {
			return "", errors.New("empty password")
		}
		return pw, nil
	}
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return c.promptPassword(int(f.Fd()), name)
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password given: use --password or write it to stdin")
		}
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}

// promptPassword asks for the password twice on the terminal fd, without
// echo.
func (c *ctl) promptPassword(fd int, name string) (string, error) {
	// ReadPassword turns echo off; put it back if the user presses Ctrl-C
	// at the prompt instead of leaving the terminal without echo.
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	defer signal.Stop(interrupt)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-interrupt:
			term.Restore(fd, state)
			fmt.Fprintln(c.stderr, "\nparleyctl: interrupted")
			os.Exit(exitFailure)
		case <-done:
		}
	}()

	read := func(prompt string) (string, error) {
		fmt.Fprint(c.stderr, prompt)
		pw, err := term.ReadPassword(fd)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(pw), nil
	}
	who := name
	if !strings.Contains(who, "@") {
		who += "@" + c.cfg.Domain
	}
	pw, err := read(fmt.Sprintf("Password for %s: ", who))
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	again, err := read("Repeat the password: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}
