package config

import (
	"flag"
	"io"

	"github.com/parleychat/parley/cmd/internal/manpage"
)

// ParleydManual is parleyd(8), generated from the flag definitions (every
// key of the table). TestPackageConfig keeps dist/debian/parleyd.8 equal to
// it, so the one -update that regenerates the README's key table
// regenerates the page too.
func ParleydManual() manpage.Page {
	fs := flag.NewFlagSet("parleyd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Register(fs)
	return manpage.Page{
		Name:    "parleyd",
		Section: "8",
		Summary: "the Parley persistent chat server (XMPP and SIP)",
		Synopsis: []string{
			"parleyd [--config FILE] [FLAGS]",
		},
		Description: []string{
			"parleyd serves persistent chat rooms and one-to-one messages to XMPP clients (c2s with STARTTLS on 5222, direct TLS on 5223, federation on 5269), SIP user agents (UDP and TCP 5060, TLS 5061, WebSocket on the HTTP listener) and HTTP (file upload, /healthz on 5280), with the operators' endpoints (/metrics, /healthz, /readyz, pprof) on 127.0.0.1:5282.",
			"Every flag is also a key of the --config file (TOML or YAML); a flag given on the command line beats the file, and the file beats the default. With no flags it runs a working single node for the domain localhost, with an embedded SQLite database and a self-signed certificate under ./data. The Debian package runs it from the systemd unit parley.service with --config /etc/parley/parley.toml, as the user parley, with its state in /var/lib/parley.",
			"Accounts, categories, rooms and compliance are managed with parleyctl(8), which reads the same configuration.",
		},
		Options: fs,
		Note: func(name string) string {
			if Live(name) {
				return "(changes on SIGHUP)"
			}
			return ""
		},
		After: []manpage.Section{
			{Title: "SIGNALS", Items: []manpage.Item{
				{Tag: "SIGHUP", Text: "Reload: read the configuration file again (flags given on the command line still win) and the TLS certificate. The certificate is served from the next handshake on every TLS listener; the keys marked \"changes on SIGHUP\" take effect; any other key that changed is logged as \"restart needed\". Sessions stay connected. A file that does not load changes nothing. systemctl reload parley sends it."},
				{Tag: "SIGTERM, SIGINT", Text: "Clean shutdown: stop accepting, close every stream and connection, then exit 0. A second signal ends the process at once."},
			}},
			{Title: "SYSTEMD", Paragraphs: []string{
				"Under systemd (Type=notify) parleyd reports READY=1 once every listener is open, RELOADING=1 and READY=1 around a reload, STOPPING=1 at shutdown, and pings the watchdog at half WatchdogSec=. The log goes to standard error, so to the journal: journalctl -u parley.",
			}},
			{Title: "FILES", Items: []manpage.Item{
				{Tag: "/etc/parley/parley.toml", Text: "The configuration the package installs: every key with its meaning and default."},
				{Tag: "/var/lib/parley", Text: "The data directory of the package (--data): the SQLite databases, the self-signed certificate (tls/), uploaded files and compliance output."},
			}},
			{Title: "EXIT STATUS", Paragraphs: []string{"0 after a clean stop, 1 on a start-up or serving error, 2 on bad usage."}},
			{Title: "SEE ALSO", Paragraphs: []string{"parleyctl(8), systemctl(1), journalctl(1)"}},
		},
	}
}
