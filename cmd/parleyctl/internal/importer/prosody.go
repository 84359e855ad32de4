package importer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/parleychat/parley/cmd/parleyctl/internal/importer/luadata"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/xmpp"
	"github.com/parleychat/parley/storage"
)

// Prosody (0.12) keeps its data in stores, each a key-value store per
// host and user (accounts, roster, config: one room's configuration per
// "user", the room's name) or an archive (muc_log: one room's messages).
// The internal back end (mod_storage_internal) writes them as Lua files
// under the data directory, DATA/HOST/STORE/USER.dat and .list, with
// every byte of HOST, STORE and USER but letters and digits
// percent-encoded; the sql back end (mod_storage_sql) as rows of the
// tables prosody and prosodyarchive.
type prosodyStore interface {
	hosts(ctx context.Context) ([]string, error)
	// users lists who has data in a key-value store of host.
	users(ctx context.Context, host, store string) ([]string, error)
	// get reads one user's key-value data; nil when there is none.
	get(ctx context.Context, host, user, store string) (*luadata.Table, error)
	// archiveUsers lists who has an archive of that name on host.
	archiveUsers(ctx context.Context, host, store string) ([]string, error)
	// archive calls fn with each item of an archive in order.
	archive(ctx context.Context, host, user, store string, fn func(key string, when float64, st *xmpp.Element) error) error
	close() error
}

// Prosody reads a Prosody data directory or SQL database.
type Prosody struct {
	store prosodyStore
	what  string
}

// OpenProsody opens Prosody's data: a directory (the internal store) or
// sqlite:FILE (the sql store on SQLite).
func OpenProsody(from string) (*Prosody, error) {
	if file, ok := strings.CutPrefix(from, "sqlite:"); ok {
		db, err := openSQLite(file)
		if err != nil {
			return nil, err
		}
		return &Prosody{store: &prosodySQL{db: db}, what: "Prosody's sql store in " + file}, nil
	}
	st, err := os.Stat(from)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory (give Prosody's data_path, or sqlite:FILE)", from)
	}
	return &Prosody{store: prosodyFiles{dir: from}, what: "Prosody's internal store in " + from}, nil
}

// openSQLite opens a database file read-only.
func openSQLite(file string) (*sql.DB, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: file, RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (p *Prosody) Describe() string { return p.what }
func (p *Prosody) Close() error     { return p.store.close() }

// Hosts finds the one host with accounts and the one with room
// configurations.
func (p *Prosody) Hosts(ctx context.Context) (string, string, error) {
	hosts, err := p.store.hosts(ctx)
	if err != nil {
		return "", "", err
	}
	var users, mucs []string
	for _, h := range hosts {
		if u, _ := p.store.users(ctx, h, "accounts"); len(u) > 0 {
			users = append(users, h)
		}
		if u, _ := p.store.users(ctx, h, "config"); len(u) > 0 {
			mucs = append(mucs, h)
		}
	}
	var host, muc string
	if len(users) == 1 {
		host = users[0]
	}
	if len(mucs) == 1 {
		muc = mucs[0]
	}
	return host, muc, nil
}

// Accounts reads the accounts store: internal_hashed keeps SCRAM-SHA-1's
// StoredKey and ServerKey (hex), the salt and the iteration count;
// internal_plain the password.
func (p *Prosody) Accounts(ctx context.Context, host string) ([]Account, error) {
	users, err := p.store.users(ctx, host, "accounts")
	if err != nil {
		return nil, err
	}
	var out []Account
	for _, u := range users {
		t, err := p.store.get(ctx, host, u, "accounts")
		if err != nil || t == nil {
			return nil, fmt.Errorf("account %s: %v", u, err)
		}
		a := Account{Username: u, Password: t.String("password")}
		stored, e1 := hex.DecodeString(t.String("stored_key"))
		server, e2 := hex.DecodeString(t.String("server_key"))
		iters, ok := t.Number("iteration_count")
		if e1 == nil && e2 == nil && ok && len(stored) == 20 && len(server) == 20 && t.String("salt") != "" {
			a.Scram = []storage.ScramCredential{{
				Mechanism: auth.ScramSHA1, Salt: []byte(t.String("salt")), Iterations: int(iters),
				StoredKey: stored, ServerKey: server,
			}}
		}
		out = append(out, a)
	}
	return out, nil
}

// Rosters reads the roster store: one table per user, keyed by contact
// JID (the [false] key holds the roster's version and pending requests).
func (p *Prosody) Rosters(ctx context.Context, host string) ([]RosterItem, error) {
	users, err := p.store.users(ctx, host, "roster")
	if err != nil {
		return nil, err
	}
	var out []RosterItem
	for _, u := range users {
		t, err := p.store.get(ctx, host, u, "roster")
		if err != nil {
			return nil, fmt.Errorf("roster of %s: %w", u, err)
		}
		if t == nil {
			continue
		}
		for _, contact := range sortedKeys(t) {
			it := t.Table(contact)
			if it == nil || contact == "" {
				continue
			}
			var groups []string
			if g := it.Table("groups"); g != nil {
				groups = sortedKeys(g)
			}
			out = append(out, RosterItem{Owner: u, JID: contact, Name: it.String("name"),
				Subscription: it.String("subscription"), Ask: it.String("ask") == "subscribe", Groups: groups})
		}
	}
	return out, nil
}

func sortedKeys(t *luadata.Table) []string {
	keys := make([]string, 0, len(t.Fields))
	for k := range t.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Rooms reads the config store of the MUC host: per room its _data
// (settings) and its affiliations (top-level JID keys in 0.11 and later,
// an _affiliations table before).
func (p *Prosody) Rooms(ctx context.Context, mucHost string) ([]Room, error) {
	names, err := p.store.users(ctx, mucHost, "config")
	if err != nil {
		return nil, err
	}
	var out []Room
	for _, name := range names {
		t, err := p.store.get(ctx, mucHost, name, "config")
		if err != nil {
			return nil, fmt.Errorf("room %s: %w", name, err)
		}
		if t == nil {
			continue
		}
		d := t.Table("_data")
		r := Room{
			Name: name, Title: d.String("name"), Description: d.String("description"),
			Subject: d.String("subject"), Public: !d.Bool("hidden"), MembersOnly: d.Bool("members_only"),
			Moderated: d.Bool("moderated"), Password: d.String("password"), WhoIsAnyone: d.String("whois") == "anyone",
			Affiliations: map[string]string{},
		}
		if _, nick, ok := strings.Cut(d.String("subject_from"), "/"); ok {
			r.SubjectNick = nick
		}
		if ts, ok := d.Number("subject_time"); ok {
			r.SubjectTime = unixTime(ts)
		}
		if n, ok := d.Number("max_occupants"); ok {
			r.MaxUsers = int(n)
		}
		affs := t
		if old := t.Table("_affiliations"); old != nil {
			affs = old
		}
		for k, v := range affs.Fields {
			if s, ok := v.(string); ok && strings.Contains(k, "@") && !strings.HasPrefix(k, "_") {
				r.Affiliations[k] = s
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func unixTime(ts float64) time.Time {
	sec, frac := math.Modf(ts)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC().Truncate(time.Microsecond)
}

// History reads the room's muc_log archive. Prosody's muc_mam keeps the
// sender's real JID in a muc#user <x/> only in non-anonymous rooms;
// otherwise it is found from the occupant-id, which Prosody derives as
// base64(HMAC-SHA-256(key: the sender's bare JID, message: the room's
// occupant_id_salt)): each account of host and each affiliated JID is
// tried.
func (p *Prosody) History(ctx context.Context, mucHost, room string, fn func(Message) error) error {
	owners, err := p.occupantIDs(ctx, mucHost, room)
	if err != nil {
		return err
	}
	return p.store.archive(ctx, mucHost, room, "muc_log", func(key string, when float64, st *xmpp.Element) error {
		if st.Name.Local != "message" {
			return nil // presence, when muc_log_presences is on
		}
		_, nick, _ := strings.Cut(st.AttrValue("from"), "/")
		return fn(Message{ID: key, Time: unixTime(when), Nick: nick, RealJID: owners[occupantID(st)], Stanza: st})
	})
}

// UserHistory reads the accounts' own archives (mod_mam's store
// "archive"): an item's with is the other party's bare JID.
func (p *Prosody) UserHistory(ctx context.Context, host string, fn func(UserMessage) error) error {
	users, err := p.store.archiveUsers(ctx, host, "archive")
	if err != nil {
		return err
	}
	for _, u := range users {
		err := p.store.archive(ctx, host, u, "archive", func(key string, when float64, st *xmpp.Element) error {
			if st.Name.Local != "message" {
				return nil
			}
			with := st.AttrValue("to")
			if strings.EqualFold(bare(with), u+"@"+host) {
				with = st.AttrValue("from")
			}
			return fn(UserMessage{Owner: u, ID: key, Time: unixTime(when), With: bare(with), Stanza: st})
		})
		if err != nil {
			return fmt.Errorf("archive of %s: %w", u, err)
		}
	}
	return nil
}

// occupantIDs maps the room's occupant-ids to bare JIDs, for the users
// Prosody knows of: accounts of every host and the room's affiliations.
func (p *Prosody) occupantIDs(ctx context.Context, mucHost, room string) (map[string]string, error) {
	t, err := p.store.get(ctx, mucHost, room, "config")
	if err != nil || t == nil {
		return nil, err
	}
	salt := t.Table("_data").String("occupant_id_salt")
	if salt == "" {
		return nil, nil
	}
	var jids []string
	for k := range t.Fields {
		if strings.Contains(k, "@") {
			jids = append(jids, k)
		}
	}
	hosts, err := p.store.hosts(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		users, _ := p.store.users(ctx, h, "accounts")
		for _, u := range users {
			jids = append(jids, u+"@"+h)
		}
	}
	out := make(map[string]string, len(jids))
	for _, j := range slices.Compact(slices.Sorted(slices.Values(jids))) {
		m := hmac.New(sha256.New, []byte(j))
		m.Write([]byte(salt))
		out[base64.StdEncoding.EncodeToString(m.Sum(nil))] = j
	}
	return out, nil
}

// prosodyFiles is mod_storage_internal's directory.
type prosodyFiles struct{ dir string }

// encodePath is datamanager's encoding of a host or user path element:
// every byte but ASCII letters and digits as %xx (lower-case hex).
func encodePath(s string) string { return encodeExcept(s, "") }

// encodeStore is datamanager's store_encode: underscores stay too.
func encodeStore(s string) string { return encodeExcept(s, "_") }

func encodeExcept(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

func decodePath(s string) string {
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

func (f prosodyFiles) hosts(context.Context) ([]string, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, decodePath(e.Name()))
		}
	}
	return out, nil
}

func (f prosodyFiles) users(_ context.Context, host, store string) ([]string, error) {
	return f.list(host, store, ".dat")
}

func (f prosodyFiles) archiveUsers(_ context.Context, host, store string) ([]string, error) {
	return f.list(host, store, ".list")
}

// list returns the users with a file ending in ext in a store.
func (f prosodyFiles) list(host, store, ext string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(f.dir, encodePath(host), encodeStore(store)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ext); ok && !e.IsDir() {
			out = append(out, decodePath(name))
		}
	}
	sort.Strings(out)
	return out, nil
}

// maxFile bounds one Lua data file read whole (archives are read whole
// too: Prosody itself loads them whole).
const maxFile = 1 << 30

func (f prosodyFiles) read(host, user, store, ext string) ([]byte, error) {
	path := filepath.Join(f.dir, encodePath(host), encodeStore(store), encodePath(user)+ext)
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFile)
	}
	return os.ReadFile(path)
}

func (f prosodyFiles) get(_ context.Context, host, user, store string) (*luadata.Table, error) {
	src, err := f.read(host, user, store, ".dat")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := luadata.ReadReturn(src)
	if err != nil {
		return nil, fmt.Errorf("%s/%s/%s.dat: %w", host, store, user, err)
	}
	t, _ := v.(*luadata.Table)
	return t, nil
}

func (f prosodyFiles) archive(ctx context.Context, host, user, store string, fn func(string, float64, *xmpp.Element) error) error {
	src, err := f.read(host, user, store, ".list")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = luadata.ReadCalls(src, "item", func(v luadata.Value) error {
		t, ok := v.(*luadata.Table)
		if !ok {
			return errors.New("an archive item that is not a table")
		}
		when, _ := t.Number("when")
		st, err := FromLua(t)
		if err != nil {
			return fmt.Errorf("item %s: %w", t.String("key"), err)
		}
		return fn(t.String("key"), when, st)
	})
	if err != nil {
		return fmt.Errorf("%s/%s/%s.list: %w", host, store, user, err)
	}
	return nil
}

func (prosodyFiles) close() error { return nil }

// prosodySQL is mod_storage_sql's database.
type prosodySQL struct{ db *sql.DB }

func (s *prosodySQL) hosts(ctx context.Context) ([]string, error) {
	return queryStrings(ctx, s.db, `SELECT DISTINCT "host" FROM "prosody" ORDER BY "host"`)
}

func (s *prosodySQL) users(ctx context.Context, host, store string) ([]string, error) {
	return queryStrings(ctx, s.db, `SELECT DISTINCT "user" FROM "prosody" WHERE "host" = ? AND "store" = ? ORDER BY "user"`, host, store)
}

func (s *prosodySQL) archiveUsers(ctx context.Context, host, store string) ([]string, error) {
	return queryStrings(ctx, s.db, `SELECT DISTINCT "user" FROM "prosodyarchive" WHERE "host" = ? AND "store" = ? ORDER BY "user"`, host, store)
}

func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// get rebuilds the table keyval_store_set split into rows: one per
// string key, typed string, number, boolean or json; the other keys
// together under the key "".
func (s *prosodySQL) get(ctx context.Context, host, user, store string) (*luadata.Table, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT "key", "type", "value" FROM "prosody" WHERE "host" = ? AND "user" = ? AND "store" = ?`, host, user, store)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var t *luadata.Table
	for rows.Next() {
		var key, typ, value string
		if err := rows.Scan(&key, &typ, &value); err != nil {
			return nil, err
		}
		if t == nil {
			t = &luadata.Table{Fields: map[string]luadata.Value{}}
		}
		v, err := sqlValue(typ, value)
		if err != nil {
			return nil, fmt.Errorf("%s %s of %s: %w", store, key, user, err)
		}
		if key != "" {
			t.Fields[key] = v
		}
	}
	return t, rows.Err()
}

func sqlValue(typ, value string) (luadata.Value, error) {
	switch typ {
	case "string":
		return value, nil
	case "boolean":
		return value == "true", nil
	case "number":
		var f float64
		_, err := fmt.Sscan(value, &f)
		return f, err
	case "json":
		var v any
		if err := json.Unmarshal([]byte(value), &v); err != nil {
			return nil, err
		}
		return fromJSON(v, 0), nil
	}
	return nil, fmt.Errorf("unknown value type %q", typ)
}

func fromJSON(v any, depth int) luadata.Value {
	if depth > luadata.MaxDepth {
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		t := &luadata.Table{Fields: map[string]luadata.Value{}}
		for k, x := range v {
			t.Fields[k] = fromJSON(x, depth+1)
		}
		return t
	case []any:
		t := &luadata.Table{Fields: map[string]luadata.Value{}}
		for _, x := range v {
			t.Array = append(t.Array, fromJSON(x, depth+1))
		}
		return t
	}
	return v
}

func (s *prosodySQL) archive(ctx context.Context, host, user, store string, fn func(string, float64, *xmpp.Element) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT "key", "when", "type", "value" FROM "prosodyarchive"
		WHERE "host" = ? AND "user" = ? AND "store" = ? ORDER BY "sort_id"`, host, user, store)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key, typ, value string
			when            float64
		)
		if err := rows.Scan(&key, &when, &typ, &value); err != nil {
			return err
		}
		if typ != "xml" {
			continue
		}
		st, err := ParseXML(value)
		if err != nil {
			return fmt.Errorf("archive item %s: %w", key, err)
		}
		if err := fn(key, when, st); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *prosodySQL) close() error { return s.db.Close() }
