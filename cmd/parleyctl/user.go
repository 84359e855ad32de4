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

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// passwordFlag defines --password for user add and user passwd.
func passwordFlag(fs *flag.FlagSet) {
	fs.String("password", "", "the new password `PW` (visible to other local users in ps; stdin is safer)")
}

// userAdd creates an account: parleyctl user add NAME [--password PW].
func userAdd(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	name, err := auth.NormalizeUsername(args[0])
	if err != nil {
		return err
	}
	password, err := c.password(fs, name)
	if err != nil {
		return err
	}
	creds, err := auth.DeriveCredentials(name, password)
	if err != nil {
		return err
	}
	// SIP digest (RFC 8760) needs HA1 for the realm, which is the domain.
	digest, err := auth.DeriveDigestCredentials(name, c.cfg.Domain, password)
	if err != nil {
		return err
	}
	store, err := c.open(ctx)
	if err != nil {
		return err
	}
	if err := store.CreateAccount(ctx, name, creds, digest...); err != nil {
		return accountError(err)
	}
	fmt.Fprintf(c.stdout, "added %s@%s\n", name, c.cfg.Domain)
	return nil
}

// userList prints every account's username, one per line, in order.
func userList(ctx context.Context, c *ctl, _ *flag.FlagSet, _ []string) error {
	store, err := c.open(ctx)
	if err != nil {
		return err
	}
	names, err := store.ListAccounts(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintln(c.stdout, n)
	}
	return nil
}

// userPasswd replaces an account's credentials: parleyctl user passwd NAME
// [--password PW]. Sessions already logged in stay logged in.
func userPasswd(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	name, err := auth.NormalizeUsername(args[0])
	if err != nil {
		return err
	}
	store, err := c.open(ctx)
	if err != nil {
		return err
	}
	// Check first, so nobody types a password twice for an unknown user.
	if _, err := store.Account(ctx, name); err != nil {
		return accountError(err)
	}
	password, err := c.password(fs, name)
	if err != nil {
		return err
	}
	creds, err := auth.DeriveCredentials(name, password)
	if err != nil {
		return err
	}
	digest, err := auth.DeriveDigestCredentials(name, c.cfg.Domain, password)
	if err != nil {
		return err
	}
	if err := store.SetCredentials(ctx, name, creds, digest...); err != nil {
		return accountError(err)
	}
	fmt.Fprintf(c.stdout, "changed the password of %s@%s\n", name, c.cfg.Domain)
	return nil
}

// userDelete removes an account with its roster and offline messages.
func userDelete(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	name, err := auth.NormalizeUsername(args[0])
	if err != nil {
		return err
	}
	store, err := c.open(ctx)
	if err != nil {
		return err
	}
	if err := store.DeleteAccount(ctx, name); err != nil {
		return accountError(err)
	}
	fmt.Fprintf(c.stdout, "deleted %s@%s\n", name, c.cfg.Domain)
	return nil
}

// accountError words the storage errors of account commands for people.
func accountError(err error) error {
	switch {
	case errors.Is(err, storage.ErrExists):
		return errors.New("user already exists")
	case errors.Is(err, storage.ErrNotFound):
		return errors.New("no such user")
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
	pw, err := read(fmt.Sprintf("Password for %s@%s: ", name, c.cfg.Domain))
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
