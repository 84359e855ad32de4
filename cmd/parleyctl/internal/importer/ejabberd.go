package importer

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver, for sources on MySQL

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// openSQL opens sqlite:FILE (read-only) or mysql:DSN.
func openSQL(from string) (*sql.DB, string, error) {
	if file, ok := strings.CutPrefix(from, "sqlite:"); ok {
		db, err := openSQLite(file)
		return db, "SQLite database " + file, err
	}
	if dsn, ok := strings.CutPrefix(from, "mysql:"); ok {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return nil, "", err
		}
		if err := db.Ping(); err != nil {
			db.Close()
			return nil, "", err
		}
		name := dsn
		if i := strings.LastIndex(dsn, "/"); i >= 0 {
			name, _, _ = strings.Cut(dsn[i+1:], "?")
		}
		return db, "MySQL database " + name, nil
	}
	return nil, "", fmt.Errorf("%q is not sqlite:FILE or mysql:DSN", from)
}

// hasColumn reports whether table has column.
func hasColumn(ctx context.Context, db *sql.DB, table, column string) bool {
	rows, err := db.QueryContext(ctx, "SELECT "+column+" FROM "+table+" LIMIT 0")
	if err != nil {
		return false
	}
	rows.Close()
	return true
}

// Ejabberd reads ejabberd's SQL schema (sql/mysql.sql and lite.sql; the
// "new" schema, with a server_host column, too).
type Ejabberd struct {
	db   *sql.DB
	what string
	// multi is set for the new schema: rows carry their host.
	multi bool
}

// OpenEjabberd opens ejabberd's database.
func OpenEjabberd(from string) (*Ejabberd, error) {
	db, what, err := openSQL(from)
	if err != nil {
		return nil, err
	}
	return &Ejabberd{db: db, what: "ejabberd's " + what, multi: hasColumn(context.Background(), db, "users", "server_host")}, nil
}

func (e *Ejabberd) Describe() string { return e.what }
func (e *Ejabberd) Close() error     { return e.db.Close() }

// Hosts reads the MUC service from muc_room (when there is one) and, in
// the new schema, the user host from users; the old schema does not say
// which domain its users belong to (--host).
func (e *Ejabberd) Hosts(ctx context.Context) (string, string, error) {
	var host, muc string
	if hosts, err := queryStrings(ctx, e.db, "SELECT DISTINCT host FROM muc_room"); err == nil && len(hosts) == 1 {
		muc = hosts[0]
	}
	if e.multi {
		if hosts, err := queryStrings(ctx, e.db, "SELECT DISTINCT server_host FROM users"); err == nil && len(hosts) == 1 {
			host = hosts[0]
		}
	}
	return host, muc, nil
}

// hostFilter is the condition on server_host in the new schema.
func (e *Ejabberd) hostFilter(host string) (string, []any) {
	if !e.multi {
		return "", nil
	}
	return " WHERE server_host = ?", []any{host}
}

// Accounts reads users: with auth_password_format scram, password holds
// StoredKey, serverkey ServerKey and salt the salt, all base64; the hash
// is SHA-1 (ejabberd's auth_scram_hash default) or SHA-256, told by the
// key's length. Otherwise password is the password.
func (e *Ejabberd) Accounts(ctx context.Context, host string) ([]Account, error) {
	where, args := e.hostFilter(host)
	rows, err := e.db.QueryContext(ctx, "SELECT username, password, serverkey, salt, iterationcount FROM users"+where+" ORDER BY username", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var (
			a                      Account
			password, server, salt string
			iters                  int
		)
		if err := rows.Scan(&a.Username, &password, &server, &salt, &iters); err != nil {
			return nil, err
		}
		if server == "" {
			a.Password = password
			out = append(out, a)
			continue
		}
		stored, e1 := base64.StdEncoding.DecodeString(password)
		serverKey, e2 := base64.StdEncoding.DecodeString(server)
		saltBytes, e3 := base64.StdEncoding.DecodeString(salt)
		mech := map[int]string{20: auth.ScramSHA1, 32: auth.ScramSHA256}[len(stored)]
		if errors.Join(e1, e2, e3) == nil && mech != "" && len(serverKey) == len(stored) {
			a.Scram = []storage.ScramCredential{{Mechanism: mech, Salt: saltBytes, Iterations: iters, StoredKey: stored, ServerKey: serverKey}}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Rosters reads rosterusers (subscription B, T, F, N; ask S, O or B for
// an outbound request pending) and rostergroups.
func (e *Ejabberd) Rosters(ctx context.Context, host string) ([]RosterItem, error) {
	where, args := e.hostFilter(host)
	groups := map[[2]string][]string{}
	rows, err := e.db.QueryContext(ctx, "SELECT username, jid, grp FROM rostergroups"+where, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var u, j, g string
		if err := rows.Scan(&u, &j, &g); err != nil {
			rows.Close()
			return nil, err
		}
		groups[[2]string{u, j}] = append(groups[[2]string{u, j}], g)
	}
	rows.Close()
	rows, err = e.db.QueryContext(ctx, "SELECT username, jid, nick, subscription, ask FROM rosterusers"+where+" ORDER BY username, jid", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RosterItem
	for rows.Next() {
		var it RosterItem
		var sub, ask string
		if err := rows.Scan(&it.Owner, &it.JID, &it.Name, &sub, &ask); err != nil {
			return nil, err
		}
		it.Subscription = map[string]string{"B": "both", "T": "to", "F": "from"}[sub]
		it.Ask = ask == "S" || ask == "O" || ask == "B"
		it.Groups = groups[[2]string{it.Owner, it.JID}]
		out = append(out, it)
	}
	return out, rows.Err()
}

// Rooms reads muc_room: each room's options as an Erlang term.
func (e *Ejabberd) Rooms(ctx context.Context, mucHost string) ([]Room, error) {
	rows, err := e.db.QueryContext(ctx, "SELECT name, opts FROM muc_room WHERE host = ? ORDER BY name", mucHost)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		var name, opts string
		if err := rows.Scan(&name, &opts); err != nil {
			return nil, err
		}
		term, err := parseErlTerm(opts)
		if err != nil {
			return nil, fmt.Errorf("room %s: options: %w", name, err)
		}
		o := erlProplist(term)
		is := func(k string) bool { a, _ := o[k].(erlAtom); return a == "true" }
		r := Room{
			Name: name, Title: erlText(o["title"]), Description: erlText(o["description"]),
			Public: is("public"), MembersOnly: is("members_only"), Moderated: is("moderated"),
			WhoIsAnyone: !is("anonymous"), SubjectNick: erlText(o["subject_author"]),
			Affiliations: map[string]string{},
		}
		if is("password_protected") {
			r.Password = erlText(o["password"])
		}
		if n, ok := o["max_users"].(int64); ok {
			r.MaxUsers = int(n)
		}
		// subject: a binary (before 21.x) or [{text, Lang, Text}].
		switch s := o["subject"].(type) {
		case erlBinary:
			r.Subject = string(s)
		case []any:
			for _, t := range s {
				if t, ok := t.(erlTuple); ok && len(t) == 3 && r.Subject == "" {
					r.Subject = erlText(t[2])
				}
			}
		}
		// affiliations: [{{User, Server, Resource}, Aff or {Aff, Reason}}].
		if affs, ok := o["affiliations"].([]any); ok {
			for _, a := range affs {
				t, ok := a.(erlTuple)
				if !ok || len(t) != 2 {
					continue
				}
				who, ok := t[0].(erlTuple)
				if !ok || len(who) != 3 {
					continue
				}
				j := erlText(who[1])
				if u := erlText(who[0]); u != "" {
					j = u + "@" + j
				}
				aff := t[1]
				if at, ok := aff.(erlTuple); ok && len(at) > 0 {
					aff = at[0]
				}
				if at, ok := aff.(erlAtom); ok {
					r.Affiliations[j] = string(at)
				}
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// History reads the room's archive (mod_mam: kind groupchat, username the
// room's JID, timestamp in microseconds, which is also the archive id
// clients saw; peer the sender's real JID, nick the nick).
func (e *Ejabberd) History(ctx context.Context, mucHost, room string, fn func(Message) error) error {
	rows, err := e.db.QueryContext(ctx, `SELECT timestamp, bare_peer, xml, nick FROM archive
		WHERE username = ? AND kind = 'groupchat' ORDER BY timestamp, id`, room+"@"+mucHost)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ts        int64
			peer, xml string
			nick      sql.NullString
		)
		if err := rows.Scan(&ts, &peer, &xml, &nick); err != nil {
			return err
		}
		st, err := ParseXML(xml)
		if err != nil {
			return fmt.Errorf("archive item %d: %w", ts, err)
		}
		m := Message{ID: strconv.FormatInt(ts, 10), Time: time.UnixMicro(ts).UTC(), Nick: nick.String, RealJID: peer, Stanza: st}
		if err := fn(m); err != nil {
			return err
		}
	}
	return rows.Err()
}

// UserHistory reads the accounts' own archives: archive rows of kind
// chat, username the owner, bare_peer the other party.
func (e *Ejabberd) UserHistory(ctx context.Context, host string, fn func(UserMessage) error) error {
	q, args := `SELECT username, timestamp, bare_peer, xml FROM archive WHERE kind = 'chat'`, []any{}
	if e.multi {
		q, args = q+` AND server_host = ?`, append(args, host)
	}
	rows, err := e.db.QueryContext(ctx, q+` ORDER BY username, timestamp, id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m   UserMessage
			ts  int64
			xml string
		)
		if err := rows.Scan(&m.Owner, &ts, &m.With, &xml); err != nil {
			return err
		}
		st, err := ParseXML(xml)
		if err != nil {
			return fmt.Errorf("archive of %s, item %d: %w", m.Owner, ts, err)
		}
		m.ID, m.Time, m.Stanza = strconv.FormatInt(ts, 10), time.UnixMicro(ts).UTC(), st
		if err := fn(m); err != nil {
			return err
		}
	}
	return rows.Err()
}
