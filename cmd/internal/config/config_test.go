package config

import (
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// load parses args like parleyd does (all keys as flags) and loads.
func load(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	return loadKeys(t, nil, args...)
}

func loadKeys(t *testing.T, names []string, args ...string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := Register(fs, names...)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return l.Load()
}

// writeFile writes a config file named name into a temp dir and returns its
// path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Data: "./data", Domain: "localhost", Storage: "sqlite:data/parley.db",
		XMPPC2S: ":5222", XMPPTLS: ":5223", HTTP: "127.0.0.1:5280", HTTPS: ":5281", AdminHTTP: "127.0.0.1:5282", SIP: ":5060", SIPTLS: ":5061", SIPDigest: "MD5,SHA-256", SIPSendQueue: 256, SIPMaxSubscriptions: 16,
		LogLevel: slog.LevelInfo, LogFormat: "text", MaxStanzaSize: 256 << 10,
		MaxUnauthPerIP: 20, MaxWebSessionsPerIP: 100, UnauthTimeout: 30 * time.Second,
		MaxAuthFailures: 3, AuthFailureDelay: time.Second,
		MaxOfflineMessages: 1000, SendQueue: 1024, MaxResources: 32,
		SMResumeTimeout: 5 * time.Minute, SMMaxResumable: 10, SMMaxQueue: 5000,
		FastTokenLifetime: 14 * 24 * time.Hour, PushInterval: 10 * time.Second, PushMaxErrors: 5,
		Auth: "internal", LDAPUserFilter: "(uid=%u)", LDAPTimeout: 5 * time.Second,
		LDAPGroupAttr: "member", LDAPCacheTTL: 5 * time.Minute, LDAPPoolSize: 4,
		SendQueueBytes: 16 << 20, SlowConsumerTime: 10 * time.Second, SlowConsumerRate: 1 << 10,
		StanzaRate: 20, StanzaBurst: 200, UserStanzaRate: 40, UserStanzaBurst: 400, IPStanzaRate: 2000, IPStanzaBurst: 20000,
		UploadMaxSize: 20 << 20, UploadQuota: 1 << 30, UploadURL: "https://localhost:5281",
		Compliance: true, ComplianceStorage: "sqlite:data/compliance.db",
		ComplianceAdapter: "xml", ComplianceOutput: "data/compliance", ComplianceInterval: 15 * time.Minute,
		ComplianceFileEvents: 100_000,
		NodeRole:             "active", PoolMaxActive: 4, PoolNodeTimeout: 3 * time.Second,
		RoomChangePoll: 250 * time.Millisecond, MaxRoomsPerUser: 50, HTTPRequestRate: 20, HTTPRequestBurst: 200, HTTPHeaderTimeout: 10 * time.Second, HTTPReadTimeout: 30 * time.Second, HTTPWriteTimeout: 30 * time.Second, HTTPIdleTimeout: 2 * time.Minute, AdminLoginsPerMinute: 10, AdminSessionIdle: 30 * time.Minute, AdminMaxSessions: 1000, UploadSlotsPerHour: 100, UploadBytesPerHour: 2 << 30, SIPSourceRate: 50, SIPSourceBurst: 200, SIPUserRate: 20, SIPUserBurst: 100, JoinsPerMinute: 60, ArchiveQueriesPerMinute: 120, SearchesPerMinute: 30, GroupCommitWait: time.Millisecond, MaxRosterItems: 1000, MaxPendingSubscriptions: 500,
		XMPPS2S: ":5269", S2SIdleTimeout: 10 * time.Minute, S2SConnectTimeout: 20 * time.Second, S2SQueue: 1024, S2SMaxLinks: 4, S2SStanzaRate: 500, S2SStanzaBurst: 2000,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
}

// Federation's lists: a route flag may be repeated or comma-separated, and
// the file gives the same; domains are lower-cased.
func TestS2SLists(t *testing.T) {
	c, err := load(t, "--s2s-route", "remote.test=127.0.0.2:5269,Other.Test=[::1]:5270", "--s2s-route", "third.test=h:1",
		"--s2s-deny", "Evil.Example, spam.example", "--s2s-allow=")
	if err != nil {
		t.Fatal(err)
	}
	wantRoutes := map[string]string{"remote.test": "127.0.0.2:5269", "other.test": "[::1]:5270", "third.test": "h:1"}
	if !reflect.DeepEqual(c.S2SRoutes, wantRoutes) {
		t.Errorf("routes = %v, want %v", c.S2SRoutes, wantRoutes)
	}
	if !reflect.DeepEqual(c.S2SDeny, []string{"evil.example", "spam.example"}) || c.S2SAllow != nil {
		t.Errorf("deny = %q, allow = %q", c.S2SDeny, c.S2SAllow)
	}
	file := writeFile(t, "p.toml", "s2s-route = \"remote.test=10.0.0.1:5269\"\nxmpp-s2s = \"\"\n")
	c, err = load(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if c.S2SRoutes["remote.test"] != "10.0.0.1:5269" || c.XMPPS2S != "" {
		t.Errorf("from the file: routes %v, xmpp-s2s %q", c.S2SRoutes, c.XMPPS2S)
	}
	for _, bad := range []string{"remote.test", "=h:1", "remote.test=nohostport"} {
		if _, err := load(t, "--s2s-route", bad); err == nil || !strings.Contains(err.Error(), "--s2s-route") {
			t.Errorf("--s2s-route %q: err = %v, want an error naming the flag", bad, err)
		}
	}
	if _, err := load(t, "--s2s-deny", "user@evil.example"); err == nil {
		t.Error("--s2s-deny took a JID that is not a domain")
	}
}

func TestStorageFollowsData(t *testing.T) {
	c, err := load(t, "--data", "/var/lib/parley")
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage != "sqlite:/var/lib/parley/parley.db" {
		t.Errorf("storage = %q, want it under --data", c.Storage)
	}
	c, err = load(t, "--data", "/var/lib/parley", "--storage", "mysql:root@tcp(127.0.0.1:3306)/parley")
	if err != nil {
		t.Fatal(err)
	}
	if c.Storage != "mysql:root@tcp(127.0.0.1:3306)/parley" {
		t.Errorf("storage = %q, want the flag's value", c.Storage)
	}
}

func TestPrecedence(t *testing.T) {
	toml := writeFile(t, "parley.toml", `
domain = "file.example"
xmpp-c2s = "127.0.0.1:5222"
unauth-timeout = "5s"
max-stanza-size = 65536
`)
	yml := writeFile(t, "parley.yaml", `
domain: file.example
xmpp-c2s: "127.0.0.1:5222"
unauth-timeout: 5s
max-stanza-size: 64KiB
`)
	for _, file := range []string{toml, yml} {
		t.Run(filepath.Ext(file), func(t *testing.T) {
			// -x and --x are both accepted.
			c, err := load(t, "--config", file, "-domain", "flag.example", "--max-stanza-size=1MiB")
			if err != nil {
				t.Fatal(err)
			}
			checks := []struct {
				what      string
				got, want any
			}{
				{"domain (flag beats file)", c.Domain, "flag.example"},
				{"max-stanza-size (flag beats file)", c.MaxStanzaSize, int64(1 << 20)},
				{"xmpp-c2s (file beats default)", c.XMPPC2S, "127.0.0.1:5222"},
				{"unauth-timeout (file beats default)", c.UnauthTimeout, 5 * time.Second},
				{"xmpp-tls (default)", c.XMPPTLS, ":5223"},
				{"file", c.File, file},
			}
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("%s: got %v, want %v", ch.what, ch.got, ch.want)
				}
			}
		})
	}
}

func TestEmptyAddressDisables(t *testing.T) {
	file := writeFile(t, "parley.toml", `xmpp-tls = ""`)
	c, err := load(t, "--config", file, "--https", "", "--http", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.XMPPTLS != "" || c.HTTP != "" || c.XMPPC2S != ":5222" {
		t.Errorf("got xmpp-tls %q, http %q, xmpp-c2s %q; want \"\", \"\", \":5222\"", c.XMPPTLS, c.HTTP, c.XMPPC2S)
	}
	// A flag given as empty beats a file address.
	file = writeFile(t, "parley.yml", "http: 127.0.0.1:8080\n")
	c, err = load(t, "--config", file, "--http=")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP != "" {
		t.Errorf("http = %q, want empty", c.HTTP)
	}
}

func TestBooleanKey(t *testing.T) {
	c, err := load(t, "--channel-binding")
	if err != nil || !c.ChannelBinding {
		t.Errorf("bare --channel-binding: %v, %v; want true", c, err)
	}
	file := writeFile(t, "parley.toml", "channel-binding = true\n")
	c, err = load(t, "--config", file, "--channel-binding=false")
	if err != nil || c.ChannelBinding {
		t.Errorf("--channel-binding=false over the file's true: %v, %v; want false", c, err)
	}
	file = writeFile(t, "parley.yaml", "channel-binding: true\n")
	if c, err = load(t, "--config", file); err != nil || !c.ChannelBinding {
		t.Errorf("YAML channel-binding: true: %v, %v", c, err)
	}
	file = writeFile(t, "parley.toml", "channel-binding = \"sometimes\"\n")
	if _, err := load(t, "--config", file); err == nil || !strings.Contains(err.Error(), `channel-binding: invalid boolean "sometimes"`) {
		t.Errorf("bad boolean: err = %v", err)
	}
}

func TestUnknownKey(t *testing.T) {
	for name, content := range map[string]string{
		"parley.toml": "xmpp-c2z = \"127.0.0.1:5222\"\n",
		"parley.yaml": "xmpp-c2z: 127.0.0.1:5222\n",
	} {
		file := writeFile(t, name, content)
		_, err := load(t, "--config", file)
		want := "config: " + file + `: unknown key "xmpp-c2z"`
		if err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %s", name, err, want)
		}
	}
	// A TOML table is not a key either.
	file := writeFile(t, "nested.toml", "[xmpp]\nc2s = \":5222\"\n")
	if _, err := load(t, "--config", file); err == nil || !strings.Contains(err.Error(), `unknown key "xmpp"`) {
		t.Errorf("nested table: err = %v, want unknown key \"xmpp\"", err)
	}
}

func TestBadValue(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--unauth-timeout", "abc"}, `config: --unauth-timeout: invalid duration "abc"`},
		{[]string{"--max-stanza-size", "lots"}, `config: --max-stanza-size: invalid size "lots"`},
		{[]string{"--send-queue", "-1"}, `config: --send-queue: invalid number "-1"`},
		{[]string{"--stanza-rate", "0"}, `config: --stanza-rate: invalid rate "0"`},
		{[]string{"--ip-stanza-rate", "fast"}, `config: --ip-stanza-rate: invalid rate "fast"`},
		{[]string{"--log-level", "loud"}, `config: --log-level: invalid log level "loud"`},
		{[]string{"--tls-cert", "cert.pem"}, "config: tls-cert and tls-key must be given together"},
	}
	for _, tt := range tests {
		_, err := load(t, tt.args...)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want prefix %s", tt.args, err, tt.want)
		}
	}

	file := writeFile(t, "parley.toml", "max-auth-failures = \"many\"\n")
	_, err := load(t, "--config", file)
	want := "config: " + file + `: max-auth-failures: invalid number "many"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("file: err = %v, want prefix %s", err, want)
	}
	file = writeFile(t, "parley.toml", "domain = [\"a\", \"b\"]\n")
	if _, err := load(t, "--config", file); err == nil || !strings.Contains(err.Error(), ": domain: ") {
		t.Errorf("array value: err = %v, want it to name domain", err)
	}
	file = writeFile(t, "parley.ini", "domain=x\n")
	if _, err := load(t, "--config", file); err == nil || !strings.Contains(err.Error(), "unknown file type") {
		t.Errorf(".ini: err = %v, want unknown file type", err)
	}
	if _, err := load(t, "--config", filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("missing file: no error")
	}
}

// TestSubsetOfFlags is parleyctl's case: only some keys are flags, but a
// config file shared with parleyd may hold all of them.
func TestSubsetOfFlags(t *testing.T) {
	file := writeFile(t, "parley.toml", "data = \"/srv/parley\"\nxmpp-c2s = \"127.0.0.1:5222\"\nsend-queue = 10\n")
	c, err := loadKeys(t, []string{"data", "storage", "domain"}, "--config", file, "--domain", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "/srv/parley" || c.Domain != "example.org" || c.SendQueue != 10 {
		t.Errorf("got data %q, domain %q, send-queue %d", c.Data, c.Domain, c.SendQueue)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Register(fs, "data")
	if err := fs.Parse([]string{"--xmpp-c2s", ":1"}); err == nil {
		t.Error("--xmpp-c2s accepted although it was not registered")
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"262144": 262144, "256KiB": 262144, "256 KiB": 262144, "256k": 262144,
		"1MiB": 1 << 20, "1M": 1 << 20, "1GiB": 1 << 30, "64kB": 64000, "1MB": 1000000, "4096B": 4096,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "KiB", "-1", "0", "1.5MiB", "12 parsecs", "99999999999999999999"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): no error", in)
		}
	}
}

// TestDefaultsParse makes sure every default in the key table is valid.
func TestDefaultsParse(t *testing.T) {
	for _, k := range keys {
		if err := k.set.apply(&Config{}, k.def); err != nil {
			t.Errorf("%s: default %q: %v", k.name, k.def, err)
		}
	}
}

// TestChanges: every key is compared, and each change is sorted into
// live (applied on SIGHUP) or restart.
func TestChanges(t *testing.T) {
	from, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.set.value == nil {
			t.Errorf("key %s has no value func: Changes cannot compare it", k.name)
		}
	}
	to, err := load(t, "--max-stanza-size", "8KiB", "--log-level", "debug", "--domain", "example.org", "--pool-peers", "a:1,b:2")
	if err != nil {
		t.Fatal(err)
	}
	live, restart := Changes(from, to)
	if want := []string{"log-level", "max-stanza-size"}; !reflect.DeepEqual(live, want) {
		t.Errorf("live changes %q, want %q", live, want)
	}
	// upload-url follows the domain.
	if want := []string{"domain", "pool-peers", "upload-url"}; !reflect.DeepEqual(restart, want) {
		t.Errorf("restart changes %q, want %q", restart, want)
	}
	if live, restart := Changes(to, to); live != nil || restart != nil {
		t.Errorf("no change: %q, %q", live, restart)
	}
}

// SIP federation's lists: routes as --s2s-route's; trusted peers are
// addresses or prefixes (an address is its own /32 or /128), or domains
// (normalised).
func TestSIPFederationLists(t *testing.T) {
	c, err := load(t, "--sip-route", "SipFed.Test=127.0.0.1:5090,tcp.test=127.0.0.1:5091;Transport=TCP", "--sip-trusted-peers", "127.0.0.1, 10.1.0.0/16, SipFed.Test", "--sip-trusted-peers", "::1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.SIPRoutes, map[string]string{"sipfed.test": "127.0.0.1:5090", "tcp.test": "127.0.0.1:5091;transport=tcp"}) {
		t.Errorf("routes = %v", c.SIPRoutes)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")}
	if !reflect.DeepEqual(c.SIPTrustedPeers, want) {
		t.Errorf("trusted peers = %v, want %v", c.SIPTrustedPeers, want)
	}
	if !reflect.DeepEqual(c.SIPTrustedPeerNames, []string{"sipfed.test"}) {
		t.Errorf("trusted peer names = %v, want [sipfed.test]", c.SIPTrustedPeerNames)
	}
	for _, c := range [][2]string{{"--sip-route", "sipfed.test=nohostport"}, {"--sip-route", "sipfed.test=127.0.0.1:5090;transport=sctp"},
		{"--sip-route", "sipfed.test=127.0.0.1:5090;maddr=x"}, {"--s2s-route", "remote.test=127.0.0.1:5269;transport=tcp"}, {"--sip-trusted-peers", "10.1.0.0/33"}, {"--sip-trusted-peers", "sip fed"}, {"--sip-trusted-peers", "127.0.0.300"}} {
		flag, bad := c[0], c[1]
		if _, err := load(t, flag, bad); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s %q: err = %v, want an error naming the flag", flag, bad, err)
		}
	}
}
