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

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/xmpp"
	"github.com/parleychat/parley/storage"
)

// Openfire reads Openfire's database (its published schema,
// openfire_mysql.sql and the others: ofProperty, ofUser, ofMucService,
// ofMucRoom, ofMucAffiliation, ofMucMember, ofMucConversationLog).
type Openfire struct {
	db   *sql.DB
	what string
}

// OpenOpenfire opens Openfire's database.
func OpenOpenfire(from string) (*Openfire, error) {
	db, what, err := openSQL(from)
	if err != nil {
		return nil, err
	}
	return &Openfire{db: db, what: "Openfire's " + what}, nil
}

func (o *Openfire) Describe() string { return o.what }
func (o *Openfire) Close() error     { return o.db.Close() }

// Hosts reads xmpp.domain from ofProperty and, when there is one MUC
// service, its subdomain.
func (o *Openfire) Hosts(ctx context.Context) (string, string, error) {
	var domain string
	err := o.db.QueryRowContext(ctx, "SELECT propValue FROM ofProperty WHERE name = 'xmpp.domain'").Scan(&domain)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("ofProperty: %w", err)
	}
	var muc string
	if subs, err := queryStrings(ctx, o.db, "SELECT subdomain FROM ofMucService"); err == nil && len(subs) == 1 && domain != "" {
		muc = subs[0] + "." + domain
	}
	return domain, muc, nil
}

// Accounts reads ofUser: storedKey, serverKey and salt (base64) and the
// iteration count of SCRAM-SHA-1, or the plain password where Openfire
// kept it (encrypted passwords cannot be used).
func (o *Openfire) Accounts(ctx context.Context, _ string) ([]Account, error) {
	rows, err := o.db.QueryContext(ctx, "SELECT username, storedKey, serverKey, salt, iterations, plainPassword FROM ofUser ORDER BY username")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var (
			a                           Account
			stored, server, salt, plain sql.NullString
			iters                       sql.NullInt64
		)
		if err := rows.Scan(&a.Username, &stored, &server, &salt, &iters, &plain); err != nil {
			return nil, err
		}
		a.Password = plain.String
		sk, e1 := base64.StdEncoding.DecodeString(stored.String)
		vk, e2 := base64.StdEncoding.DecodeString(server.String)
		sb, e3 := base64.StdEncoding.DecodeString(salt.String)
		if errors.Join(e1, e2, e3) == nil && len(sk) == 20 && len(vk) == 20 && iters.Int64 > 0 {
			a.Scram = []storage.ScramCredential{{Mechanism: auth.ScramSHA1, Salt: sb, Iterations: int(iters.Int64), StoredKey: sk, ServerKey: vk}}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Rosters: not read from Openfire (ofRoster); rooms and history are what
// moves.
func (o *Openfire) Rosters(context.Context, string) ([]RosterItem, error) { return nil, nil }

// UserHistory: Openfire keeps 1:1 history only in its Monitoring
// plugin's tables, which are not read.
func (o *Openfire) UserHistory(context.Context, string, func(UserMessage) error) error { return nil }

// serviceID finds the MUC service whose subdomain, with the domain, is
// mucHost.
func (o *Openfire) serviceID(ctx context.Context, mucHost string) (int64, error) {
	sub, _, _ := strings.Cut(mucHost, ".")
	var id int64
	err := o.db.QueryRowContext(ctx, "SELECT serviceID FROM ofMucService WHERE subdomain = ?", sub).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("no MUC service %q in ofMucService", sub)
	}
	return id, err
}

// Openfire's affiliation codes (MUCRole.Affiliation).
var openfireAffiliations = map[int]string{10: "owner", 20: "admin", 30: "member", 40: "outcast"}

// Rooms reads ofMucRoom with ofMucAffiliation (owners, admins, outcasts)
// and ofMucMember (members).
func (o *Openfire) Rooms(ctx context.Context, mucHost string) ([]Room, error) {
	service, err := o.serviceID(ctx, mucHost)
	if err != nil {
		return nil, err
	}
	rows, err := o.db.QueryContext(ctx, `SELECT roomID, name, naturalName, description, publicRoom, moderated,
		membersOnly, roomPassword, canDiscoverJID, subject, maxUsers, creationDate
		FROM ofMucRoom WHERE serviceID = ? ORDER BY name`, service)
	if err != nil {
		return nil, err
	}
	var (
		out []Room
		ids []int64
	)
	for rows.Next() {
		var (
			r                        Room
			id                       int64
			desc, password, subject  sql.NullString
			public, moderated, mo, d int
			created                  string
		)
		if err := rows.Scan(&id, &r.Name, &r.Title, &desc, &public, &moderated, &mo, &password, &d, &subject, &r.MaxUsers, &created); err != nil {
			rows.Close()
			return nil, err
		}
		r.Description, r.Password, r.Subject = desc.String, password.String, subject.String
		r.Public, r.Moderated, r.MembersOnly, r.WhoIsAnyone = public != 0, moderated != 0, mo != 0, d != 0
		r.Created = openfireTime(created)
		r.Affiliations = map[string]string{}
		out = append(out, r)
		ids = append(ids, id)
	}
	rows.Close()
	for i, id := range ids {
		affs, err := o.db.QueryContext(ctx, "SELECT jid, affiliation FROM ofMucAffiliation WHERE roomID = ?", id)
		if err != nil {
			return nil, err
		}
		for affs.Next() {
			var (
				j string
				a int
			)
			if err := affs.Scan(&j, &a); err != nil {
				affs.Close()
				return nil, err
			}
			if name, ok := openfireAffiliations[a]; ok {
				out[i].Affiliations[j] = name
			}
		}
		affs.Close()
		members, err := queryStrings(ctx, o.db, "SELECT jid FROM ofMucMember WHERE roomID = ?", id)
		if err != nil {
			return nil, err
		}
		for _, j := range members {
			if _, ok := out[i].Affiliations[j]; !ok {
				out[i].Affiliations[j] = "member"
			}
		}
	}
	return out, nil
}

// openfireTime reads Openfire's dates: milliseconds since 1970 in a
// CHAR(15), zero-padded.
func openfireTime(s string) time.Time {
	ms, err := strconv.ParseInt(strings.TrimLeft(strings.TrimSpace(s), "0"), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// History reads ofMucConversationLog: messageID is the archive id
// Openfire's MAM gave clients; the stanza column (Openfire 4.x) holds the
// message as the room sent it, else it is made from body and subject.
func (o *Openfire) History(ctx context.Context, mucHost, room string, fn func(Message) error) error {
	service, err := o.serviceID(ctx, mucHost)
	if err != nil {
		return err
	}
	rows, err := o.db.QueryContext(ctx, `SELECT l.messageID, l.sender, l.nickname, l.logTime, l.subject, l.body, l.stanza
		FROM ofMucConversationLog l JOIN ofMucRoom r ON r.roomID = l.roomID
		WHERE r.serviceID = ? AND r.name = ? ORDER BY l.logTime, l.messageID`, service, room)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                          int64
			sender, logTime             string
			nick, subject, body, stanza sql.NullString
		)
		if err := rows.Scan(&id, &sender, &nick, &logTime, &subject, &body, &stanza); err != nil {
			return err
		}
		var st *xmpp.Element
		if stanza.Valid && stanza.String != "" {
			if st, err = ParseXML(stanza.String); err != nil {
				return fmt.Errorf("message %d: %w", id, err)
			}
		} else {
			st = xmpp.NewElement(nsClient, "message", "type", "groupchat")
			for _, c := range []struct {
				name string
				v    sql.NullString
			}{{"subject", subject}, {"body", body}} {
				if c.v.Valid {
					child := xmpp.NewElement(nsClient, c.name)
					child.Children = []any{c.v.String} // as archived, even when empty
					st.Append(child)
				}
			}
		}
		m := Message{ID: strconv.FormatInt(id, 10), Time: openfireTime(logTime), Nick: nick.String, RealJID: bare(sender), Stanza: st}
		if err := fn(m); err != nil {
			return err
		}
	}
	return rows.Err()
}
