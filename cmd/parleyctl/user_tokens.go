package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/parleychat/parley/protocol/auth"
)

// FAST tokens (XEP-0484): the devices that can log in without the
// password, and ending that. A revoked token's device logs in with the
// password next time; sessions already logged in stay logged in (as with
// user passwd).

// tokenUser is the username a USER argument names: a username, or a bare
// JID at --domain.
func (c *ctl) tokenUser(s string) (string, error) {
	local, domain, found := strings.Cut(strings.TrimSpace(s), "@")
	if found && !strings.EqualFold(domain, c.cfg.Domain) {
		return "", fmt.Errorf("%s is not a user of %s", s, c.cfg.Domain)
	}
	return auth.NormalizeUsername(local)
}

// userTokensList prints a user's FAST tokens, one device a row.
func userTokensList(ctx context.Context, c *ctl, _ *flag.FlagSet, args []string) error {
	name, err := c.tokenUser(args[0])
	if err != nil {
		return err
	}
	store, err := c.open(ctx)
	if err != nil {
		return err
	}
	toks, err := store.FastTokens(ctx, name)
	if err != nil {
		return err
	}
	rows := [][]string{{"AGENT", "SOFTWARE", "DEVICE", "MECHANISM", "CREATED", "USED", "EXPIRES"}}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, t := range toks {
		rows = append(rows, []string{t.AgentID, t.Software, t.Device, t.Mechanism, when(t.Created), when(t.Used), when(t.Expires)})
	}
	return writeTable(c.stdout, rows)
}

func tokenRevokeFlags(fs *flag.FlagSet) {
	fs.Bool("all", false, "revoke every device's token")
	fs.String("agent", "", "revoke the token of the device with user-agent id `ID` (see user tokens list)")
}

// userTokensRevoke deletes one device's token (--agent) or all (--all).
func userTokensRevoke(ctx context.Context, c *ctl, fs *flag.FlagSet, args []string) error {
	all, agent := fs.Lookup("all").Value.String() == "true", fs.Lookup("agent").Value.String()
	if all == (agent != "") {
		return usageError{"give exactly one of --all and --agent"}
	}
	name, err := c.tokenUser(args[0])
	if err != nil {
		return err
	}
	store, err := c.open(ctx)
	if err != nil {
		return err
	}
	if _, err := store.Account(ctx, name); err != nil {
		return accountError(err)
	}
	n, err := store.DeleteFastTokens(ctx, name, agent)
	if err != nil {
		return err
	}
	if agent != "" && n == 0 {
		return fmt.Errorf("%s@%s has no token for user-agent %q", name, c.cfg.Domain, agent)
	}
	fmt.Fprintf(c.stdout, "revoked %d FAST token(s) of %s@%s\n", n, name, c.cfg.Domain)
	return nil
}
