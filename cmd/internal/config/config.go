// Package config is the one configuration loader of parleyd and parleyctl.
//
// Every setting is a key in one table (keys, in keys.go). Each key is a
// command-line flag (--data DIR) and a key of the same name in the optional
// config file given with --config (TOML for .toml, YAML for .yaml and .yml):
//
//	data = "/var/lib/parley"
//	xmpp-c2s = "127.0.0.1:5222"
//
// A flag given on the command line beats the file, and the file beats the
// default. An empty address disables that listener. Unknown keys and bad
// values are errors that name the key.
//
// The key names and flags are a contract with operators and external test
// harnesses: add keys, do not rename them.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	yaml "go.yaml.in/yaml/v3"

	"github.com/parleychat/parley/internal/realip"
	"github.com/parleychat/parley/protocol/auth/ldapauth"
)

// Config holds every setting of a Parley node. Load fills it from defaults,
// the config file and the command line.
type Config struct {
	// File is the config file given with --config, or "" when there is none.
	File string

	// Data is the directory for the embedded database, the generated TLS
	// certificate and other node-local state.
	Data string
	// Domain is the XMPP domain this node serves.
	Domain string
	// Storage is the content database: "sqlite:PATH" or "mysql:DSN" (a
	// go-sql-driver/mysql DSN). Load sets it to sqlite:DATA/parley.db when
	// it is not configured.
	Storage string

	// XMPPC2S, XMPPTLS and HTTP are listen addresses; "" disables the
	// listener.
	XMPPC2S string
	XMPPTLS string
	HTTP    string
	// HTTPS serves the same and the web client over TLS.
	HTTPS string
	// AdminHTTP serves /metrics, /healthz, /readyz and pprof.
	AdminHTTP string
	// StrictListeners makes a listener that cannot open stop the start;
	// otherwise an optional one (all but XMPPC2S) whose address is in use
	// is skipped with a warning.
	StrictListeners bool
	// SIP (UDP and TCP) and SIPTLS are the SIP listen addresses; ""
	// disables them.
	SIP    string
	SIPTLS string
	// SIPDigest lists the digest algorithms the SIP registrar offers,
	// comma-separated, the preferred first.
	SIPDigest string
	// SIPSendQueue bounds the MESSAGEs waiting for one SIP user's contacts.
	SIPSendQueue int
	// SIPMaxSubscriptions bounds one SIP user's conference subscriptions.
	SIPMaxSubscriptions int

	// TLSCert and TLSKey are PEM files; both empty means a self-signed
	// certificate kept under Data/tls.
	TLSCert string
	TLSKey  string

	// LogLevel is the minimum level logged; LogFormat is "text"
	// (logfmt) or "json" (one object per line).
	LogLevel  slog.Level
	LogFormat string

	// Limits of the XMPP front door; see xmpp.Config for their meaning.
	MaxStanzaSize  int64
	MaxUnauthPerIP int
	// MaxWebSessionsPerIP bounds an address's XMPP web sessions;
	// HTTPAllowedOrigins lists the other web origins that may open them.
	MaxWebSessionsPerIP int
	HTTPAllowedOrigins  []string
	// HTTPTrustedProxies are the reverse proxies whose X-Forwarded-For
	// names the client (package realip).
	HTTPTrustedProxies realip.Proxies
	UnauthTimeout      time.Duration
	MaxAuthFailures    int
	AuthFailureDelay   time.Duration
	MaxOfflineMessages int
	SendQueue          int
	// Stream management (XEP-0198): see xmpp.Config.
	SMResumeTimeout time.Duration
	SMMaxResumable  int
	SMMaxQueue      int
	// FAST tokens and push notifications: see xmpp.Config.
	FastTokenLifetime time.Duration
	PushInterval      time.Duration
	PushMaxErrors     int
	PushBody          bool
	SendQueueBytes    int64
	SocketSendBuffer  int64
	SlowConsumerTime  time.Duration
	SlowConsumerRate  int64
	StanzaRate        float64
	StanzaBurst       int
	UserStanzaRate    float64
	UserStanzaBurst   int
	IPStanzaRate      float64
	IPStanzaBurst     int
	MaxResources      int
	// ChannelBinding offers SCRAM -PLUS (see xmpp.Config.ChannelBinding).
	ChannelBinding bool
	// Admins, AllowRegistration and ContactAddresses: see the xmpp.Config
	// fields of the same names (server services, issue 12).
	Admins            []string
	AllowRegistration bool
	ContactAddresses  []string
	// Auth is the password backend: "internal" or "ldap"; the LDAP*
	// fields are ldapauth.Config's.
	Auth             string
	LDAPURLs         []string
	LDAPCA           string
	LDAPBindDN       string
	LDAPBindPassword string
	LDAPUserBase     string
	LDAPUserFilter   string
	LDAPTimeout      time.Duration
	LDAPGroupBase    string
	LDAPGroupAttr    string
	LDAPCacheTTL     time.Duration
	LDAPPoolSize     int
	// ExternalServices and ExternalServiceSecret: see xmpp.Config.
	ExternalServices      []string
	ExternalServiceSecret string

	// UploadMaxSize and UploadQuota limit HTTP File Upload (XEP-0363)
	// per file and per user, in bytes; UploadURL is the base of its URLs
	// (Load derives http://DOMAIN:PORT from HTTP when it is not set).
	UploadMaxSize int64
	UploadQuota   int64
	UploadURL     string

	// Compliance runs the compliance worker (package compliance) on this
	// node; ComplianceStorage is the compliance database, in the forms of
	// Storage. Load sets it to sqlite:DATA/compliance.db when it is not
	// configured.
	Compliance        bool
	ComplianceStorage string
	// ComplianceAdapter is the adapter the node holding the compliance
	// lease runs every ComplianceInterval: "xml", "jsonl" or "none".
	// It writes into ComplianceOutput (Load sets DATA/compliance when it
	// is not configured), one XML file per room when CompliancePerRoom.
	ComplianceAdapter  string
	ComplianceOutput   string
	ComplianceInterval time.Duration
	// ComplianceRetention is how long the compliance database keeps
	// events (the retention runner purges older ones, except what a
	// legal hold covers); 0 keeps them forever.
	ComplianceRetention time.Duration
	// ArchiveRetention is how long the accounts' own archives of 1:1
	// messages keep them (purged with the compliance worker's retention
	// runner, except what a legal hold covers); 0 keeps them forever.
	ArchiveRetention  time.Duration
	CompliancePerRoom bool
	// ComplianceFileEvents bounds the events of one adapter window (one
	// file, or one per room): the adapter holds them in memory.
	ComplianceFileEvents int

	// Pool is the pool (bus) listen address; "" runs a single node.
	// PoolPeers are the other nodes' pool addresses; Node names this
	// node; NodeRole is "active" or "standby"; PoolMaxActive bounds the
	// active nodes. PoolSecret, or PoolCert, PoolKey and PoolCA,
	// authenticate the pool links. PoolNATS is an external NATS cluster
	// URL. PoolClientAddr is where clients reach this node.
	Pool           string
	PoolPeers      []string
	Node           string
	NodeRole       string
	PoolMaxActive  int
	PoolSecret     string
	PoolCert       string
	PoolKey        string
	PoolCA         string
	PoolNATS       string
	PoolClientAddr string
	// PoolNodeTimeout is how long a silent node stays alive in the
	// others' view.
	PoolNodeTimeout time.Duration
	// MaxRosterItems and MaxPendingSubscriptions are xmpp.Config's
	// MaxRosterItems and MaxPendingRequests.
	MaxRosterItems          int
	MaxPendingSubscriptions int
	// JoinsPerMinute, ArchiveQueriesPerMinute and SearchesPerMinute are
	// muc.Config's per-user rates.
	JoinsPerMinute          int
	ArchiveQueriesPerMinute int
	SearchesPerMinute       int
	// GroupCommitWait is muc.Config's GroupCommitWait.
	GroupCommitWait time.Duration
	// SIPSourceRate, SIPSourceBurst, SIPUserRate and SIPUserBurst are
	// sip.Config's SourceRate, SourceBurst, UserRate and UserBurst.
	SIPSourceRate  float64
	SIPSourceBurst int
	SIPUserRate    float64
	SIPUserBurst   int
	// HTTPRequestRate and HTTPRequestBurst pace the public HTTP
	// listeners' requests per client address.
	HTTPRequestRate  float64
	HTTPRequestBurst int
	// HTTPHeaderTimeout, HTTPReadTimeout, HTTPWriteTimeout and
	// HTTPIdleTimeout bound slow clients on the HTTP listeners
	// (http.Server's timeouts of the same names).
	HTTPHeaderTimeout, HTTPReadTimeout, HTTPWriteTimeout, HTTPIdleTimeout time.Duration
	// AdminLoginsPerMinute, AdminSessionIdle and AdminMaxSessions are
	// admin.HandlerConfig's LoginsPerMinute, SessionIdle and MaxSessions.
	AdminLoginsPerMinute int
	AdminSessionIdle     time.Duration
	AdminMaxSessions     int
	// UploadSlotsPerHour and UploadBytesPerHour are muc.FilesConfig's
	// SlotsPerHour and BytesPerHour.
	UploadSlotsPerHour int
	UploadBytesPerHour int64
	// MaxRoomsPerUser is muc.Config.MaxRoomsPerUser.
	MaxRoomsPerUser int
	// RoomChangePoll is how often the room engine reads the room change
	// log (changes made by parleyctl or other pool nodes).
	RoomChangePoll time.Duration

	// XMPPS2S is the server-to-server listen address; "" turns
	// federation off. The S2S settings are xmpp.S2SConfig's: S2SCA is a
	// PEM file of CAs trusted besides the system's, S2SRoutes maps
	// domains to host:port.
	XMPPS2S           string
	XMPPS2STLS        string
	S2SSecureAuth     bool
	S2SBidi           bool
	S2SCA             string
	S2SRoutes         map[string]string
	S2SAllow          []string
	S2SDeny           []string
	S2SIdleTimeout    time.Duration
	S2SConnectTimeout time.Duration
	S2SQueue          int
	S2SMaxLinks       int
	S2SStanzaRate     float64
	S2SStanzaBurst    int

	// SIPRoutes maps other SIP domains to host:port (sip.Config.Routes);
	// SIPTrustedPeers are the addresses their MESSAGEs are taken from,
	// SIPTrustedPeerNames the domains whose servers' certificates are
	// trusted on SIP over TLS.
	SIPRoutes           map[string]string
	SIPTrustedPeers     []netip.Prefix
	SIPTrustedPeerNames []string
}

// Loader connects a flag.FlagSet to the key table. Create it with Register
// before the FlagSet is parsed, then call Load.
type Loader struct {
	fs      *flag.FlagSet
	file    *string
	version *bool
	entries map[string]*flagValue
}

// flagValue is a flag.Value that keeps the text given on the command line;
// it is checked and applied by Load, after the config file, so that the
// flag wins and its error names the flag.
type flagValue struct {
	text    string
	boolean bool
	list    bool // repeated values are joined with commas
	given   bool // set on the command line at least once
}

// IsBoolFlag lets a boolean key be given as a bare --name (package flag).
func (v *flagValue) IsBoolFlag() bool { return v != nil && v.boolean }

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	return v.text
}

func (v *flagValue) Set(s string) error {
	if v.list && v.given && s != "" {
		s = v.text + "," + s
	}
	v.text, v.given = s, true
	return nil
}

// Register defines --config, --version and the flags for the named keys on
// fs, or for every key when names is empty. Keys without a flag are still accepted in
// the config file: parleyctl shares parleyd's file but only has --data,
// --storage and --domain.
func Register(fs *flag.FlagSet, names ...string) *Loader {
	l := &Loader{fs: fs, entries: make(map[string]*flagValue)}
	l.file = fs.String("config", "", "read settings from `FILE` (TOML if it ends in .toml, YAML if .yaml or .yml)")
	l.version = fs.Bool("version", false, "print the version (release, revision built from, Go version) and exit")
	for _, k := range keys {
		if len(names) > 0 && !slices.Contains(names, k.name) {
			continue
		}
		v := &flagValue{text: k.def, boolean: k.set.boolean, list: k.set.list}
		fs.Var(v, k.name, k.usage)
		l.entries[k.name] = v
	}
	for _, n := range names {
		if _, ok := l.entries[n]; !ok {
			panic(fmt.Sprintf("config: Register: no key %q", n))
		}
	}
	return l
}

// Load builds the configuration from the defaults, then the file given with
// --config, then the flags set on the command line. Call it after the
// FlagSet has been parsed.
func (l *Loader) Load() (*Config, error) {
	c := &Config{}
	for _, k := range keys {
		if err := k.set.apply(c, k.def); err != nil {
			return nil, fmt.Errorf("config: default of %s: %w", k.name, err)
		}
	}
	if *l.file != "" {
		c.File = *l.file
		if err := c.loadFile(*l.file); err != nil {
			return nil, err
		}
	}
	var err error
	l.fs.Visit(func(f *flag.Flag) {
		v, ok := l.entries[f.Name]
		if !ok || err != nil {
			return
		}
		if e := lookup(f.Name).set.apply(c, v.text); e != nil {
			err = fmt.Errorf("config: --%s: %w", f.Name, e)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// Version reports whether --version was given: print the version and do
// nothing else.
func (l *Loader) Version() bool { return *l.version }

// IsSet reports whether the flag for key (or "config") was given on the
// command line.
func (l *Loader) IsSet(key string) bool {
	set := false
	l.fs.Visit(func(f *flag.Flag) {
		if f.Name == key {
			set = true
		}
	})
	return set
}

// Value returns the text of key's flag (its default when the flag was not
// given), or "" for --config without a file or a key that has no flag.
func (l *Loader) Value(key string) string {
	if key == "config" {
		return *l.file
	}
	if v, ok := l.entries[key]; ok {
		return v.text
	}
	return ""
}

// Changes compares two configurations key by key and returns the keys
// whose values differ: live ones, which a running parleyd takes on reload
// (SIGHUP), and restart ones, which take effect at its next start.
func Changes(from, to *Config) (live, restart []string) {
	for _, k := range keys {
		if reflect.DeepEqual(k.set.value(from), k.set.value(to)) {
			continue
		}
		if k.set.live {
			live = append(live, k.name)
		} else {
			restart = append(restart, k.name)
		}
	}
	return live, restart
}

// finish derives settings that depend on others and checks combinations.
func (c *Config) finish() error {
	if c.Data == "" {
		return errors.New("config: data: must not be empty")
	}
	if c.Domain == "" {
		return errors.New("config: domain: must not be empty")
	}
	if c.Storage == "" {
		c.Storage = "sqlite:" + filepath.Join(c.Data, "parley.db")
	}
	if c.ComplianceStorage == "" {
		c.ComplianceStorage = "sqlite:" + filepath.Join(c.Data, "compliance.db")
	}
	if c.ComplianceOutput == "" {
		c.ComplianceOutput = filepath.Join(c.Data, "compliance")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("config: tls-cert and tls-key must be given together")
	}
	if err := c.deriveUploadURL(); err != nil {
		return err
	}
	return nil
}

// loadFile applies the keys of a TOML or YAML file.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	values := map[string]any{}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		// Decoding into a map keeps every key, so unknown keys (and
		// misplaced [tables]) are caught below against the key table.
		if _, err := toml.Decode(string(data), &values); err != nil {
			return fmt.Errorf("config: %s: %w", path, err)
		}
	case ".yaml", ".yml":
		if err := yaml.Unmarshal(data, &values); err != nil {
			return fmt.Errorf("config: %s: %w", path, err)
		}
	default:
		return fmt.Errorf("config: %s: unknown file type (want .toml, .yaml or .yml)", path)
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names) // report the same error on every run
	for _, name := range names {
		k := lookup(name)
		if k == nil {
			return fmt.Errorf("config: %s: unknown key %q", path, name)
		}
		text, err := scalarText(values[name])
		if err != nil {
			return fmt.Errorf("config: %s: %s: %w", path, name, err)
		}
		if err := k.set.apply(c, text); err != nil {
			return fmt.Errorf("config: %s: %s: %w", path, name, err)
		}
	}
	return nil
}

// scalarText turns a decoded TOML or YAML value into the text a flag would
// carry, so that one parser per key serves both.
func scalarText(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil // YAML "key:" with no value
	case string:
		return v, nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	default:
		return "", fmt.Errorf("want a string or a number, not %T", v)
	}
}

// PIDFile is where a running parleyd keeps its process id, in its data
// directory: parleyctl reload signals that process.
func (c *Config) PIDFile() string { return filepath.Join(c.Data, "parleyd.pid") }

// LDAP is the --auth ldap directory's configuration from the --ldap-*
// keys, for parleyd and parleyctl alike; ok is false with --auth internal.
// The caller adds what only it has (Accounts, Logger, Registerer).
func (c *Config) LDAP() (cfg ldapauth.Config, ok bool) {
	if c.Auth != "ldap" {
		return ldapauth.Config{}, false
	}
	return ldapauth.Config{
		URLs: c.LDAPURLs, CAFile: c.LDAPCA,
		BindDN: c.LDAPBindDN, BindPassword: c.LDAPBindPassword,
		UserBase: c.LDAPUserBase, UserFilter: c.LDAPUserFilter,
		GroupBase: c.LDAPGroupBase, GroupAttr: c.LDAPGroupAttr,
		Timeout: c.LDAPTimeout, CacheTTL: c.LDAPCacheTTL, PoolSize: c.LDAPPoolSize,
		Domain: c.Domain,
	}, true
}
