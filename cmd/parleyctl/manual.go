package main

import (
	"flag"
	"io"
	"strings"

	"github.com/parleychat/parley/cmd/internal/config"
	"github.com/parleychat/parley/cmd/internal/manpage"
)

// manual is parleyctl(8), generated from the command table and the flag
// definitions. TestManual keeps dist/debian/parleyctl.8 equal to it.
func manual() manpage.Page {
	fs := flag.NewFlagSet("parleyctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.Register(fs, globalKeys...)
	var items []manpage.Item
	for _, c := range commands {
		it := manpage.Item{Tag: strings.TrimSpace(c.path + " " + c.args), Text: c.help}
		if c.flags != nil {
			cfs := flag.NewFlagSet(c.path, flag.ContinueOnError)
			c.flags(cfs)
			it.Flags = cfs
		}
		items = append(items, it)
	}
	return manpage.Page{
		Name:    "parleyctl",
		Section: "8",
		Summary: "administer a Parley chat server",
		Synopsis: []string{
			"parleyctl [--config FILE] [GLOBAL FLAGS] COMMAND [ARGS] [FLAGS]",
		},
		Description: []string{
			"parleyctl manages accounts, categories, rooms and their members, compliance holds and exports, backups and the pool directly in Parley's content database, so it works whether or not parleyd(8) is running. It reads the same configuration as parleyd: give it the same --config file (the keys it has no flag for are accepted and ignored).",
			"With the Debian package, run it as the parley user so that files it creates stay readable by the server:\n  sudo -u parley parleyctl --config /etc/parley/parley.toml user add alice",
			"A USER is a bare JID (alice@example.org) or a username at --domain (alice). Flags may come before or after a command's arguments.",
		},
		Before:  []manpage.Section{{Title: "COMMANDS", Items: items}},
		Options: fs,
		After: []manpage.Section{
			{Title: "EXIT STATUS", Paragraphs: []string{"0 success, 1 failure (with a one-line reason on standard error), 2 bad usage."}},
			{Title: "SEE ALSO", Paragraphs: []string{"parleyd(8)"}},
		},
	}
}
