// Package importer brings accounts, rosters, rooms and room archives from
// another XMPP server (Prosody, ejabberd, Openfire) into Parley, for
// parleyctl import. A Source reads the other server's data as it stored
// it; Run writes it through Parley's storage interfaces and room engine,
// never SQL of its own into Parley's tables:
//
//   - accounts with their SCRAM credentials where the other server kept
//     them (storage.Accounts.CreateAccount), so users log in with their
//     old passwords; an account that already exists is left alone;
//   - roster items (storage.Rosters.UpdateRoster), ones already there
//     are left alone;
//   - rooms through the room engine (muc.Engine.CreateRoom, acting as
//     parleyctl), so categories' walls and compliance apply; a room that
//     already exists keeps its settings;
//   - each room's archive with storage.RoomStore.ImportHistory, in
//     batches, in the archive's order, each message with its original
//     time, sender and id (the id becomes the message's stanza-id), and
//     one compliance event of type "import" per room and run;
//   - each account's own archive (1:1 messages) with
//     storage.UserArchives.ArchiveMessages, the same way, one event per
//     account and run.
//
// Idempotent and resumable: a room's imported messages are always a
// prefix of its archive (batches are transactions, written in order), so
// a run finds where the last one stopped by looking the ids up, a batch
// at a time, and imports only the rest.
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/protocol/xmpp"
	"github.com/parleychat/parley/storage"
)

// Account is a user of the other server.
type Account struct {
	// Username is the JID localpart.
	Username string
	// Scram holds the credentials the other server kept (SCRAM-SHA-1 for
	// Prosody's internal_hashed), already in Parley's form.
	Scram []storage.ScramCredential
	// Password is set instead when the other server kept the password
	// itself (ejabberd without SCRAM): Parley derives its credentials.
	Password string
}

// RosterItem is one contact of one user, JIDs as the other server had
// them.
type RosterItem struct {
	Owner        string // localpart
	JID          string
	Name         string
	Subscription string // none, to, from, both
	Ask          bool
	Groups       []string
}

// Room is a room of the other server's MUC service, its settings mapped
// to Parley's (see the README's table).
type Room struct {
	Name        string // localpart at the MUC service
	Title       string
	Description string
	Subject     string
	SubjectNick string
	SubjectTime time.Time
	Public      bool // listed
	MembersOnly bool
	Moderated   bool // an auditorium
	Password    string
	WhoIsAnyone bool // non-anonymous
	MaxUsers    int
	// Affiliations maps bare JIDs (as the other server had them) to
	// owner, admin, member or outcast.
	Affiliations map[string]string
	Created      time.Time
}

// Message is one archived groupchat message.
type Message struct {
	// ID is the other server's archive id: it becomes the stanza-id.
	ID      string
	Time    time.Time
	Nick    string
	RealJID string // the sender's bare JID, as the other server had it, or ""
	// Stanza is the message as archived.
	Stanza *xmpp.Element
}

// UserMessage is one message of an account's own archive (XEP-0313 on
// the account, 1:1 chats).
type UserMessage struct {
	Owner string // localpart
	// ID is the other server's archive id: it becomes the stanza-id.
	ID   string
	Time time.Time
	// With is the other party's bare JID, as the other server had it.
	With   string
	Stanza *xmpp.Element
}

// Source is another server's data.
type Source interface {
	// Describe says what is read, for the summary.
	Describe() string
	// Hosts returns the user domain and the MUC service domain the data
	// belong to, when the source can tell ("" otherwise).
	Hosts(ctx context.Context) (host, mucHost string, err error)
	Accounts(ctx context.Context, host string) ([]Account, error)
	Rosters(ctx context.Context, host string) ([]RosterItem, error)
	Rooms(ctx context.Context, mucHost string) ([]Room, error)
	// History calls fn with each message of room's archive, oldest first.
	History(ctx context.Context, mucHost, room string, fn func(Message) error) error
	// UserHistory calls fn with each message of the accounts' own
	// archives (1:1 chats), account by account, oldest first.
	UserHistory(ctx context.Context, host string, fn func(UserMessage) error) error
	Close() error
}

// Options says where to write and how.
type Options struct {
	Store  storage.Store
	Engine *muc.Engine
	// Domain is Parley's domain; MUCDomain its MUC service.
	Domain, MUCDomain string
	// Host and MUCHost are the other server's domains (from the flags, or
	// the source's own).
	Host, MUCHost string
	// Category receives the rooms (it is created, with the default
	// category's policy, if it does not exist).
	Category string
	// Batch is the number of messages per transaction.
	Batch int
	// Progress, if not nil, gets a progress line that redraws itself (a
	// terminal); Log gets the summary and the per-room lines.
	Progress io.Writer
	Log      io.Writer
	// AfterBatch, if set, is called after each batch of a room's messages
	// is committed; an error stops the import there (tests use it to
	// interrupt one).
	AfterBatch func(room string, imported int) error
}

// Summary counts what a run did.
type Summary struct {
	Accounts, AccountsSkipped       int
	RosterItems, RosterItemsSkipped int
	Rooms, RoomsSkipped             int
	Messages, MessagesSkipped       int
	// UserMessages are those of the accounts' own archives.
	UserMessages, UserMessagesSkipped int
	Took                              time.Duration
}

// Rate is the messages imported per second.
func (s Summary) Rate() float64 {
	if s.Took <= 0 {
		return 0
	}
	return float64(s.Messages) / s.Took.Seconds()
}

func (s Summary) String() string {
	return fmt.Sprintf("accounts: %d imported, %d already there\nroster items: %d imported, %d already there\n"+
		"rooms: %d created, %d already there\nmessages: %d imported, %d already there, in %v (%.0f messages/s)\n"+
		"account archives: %d messages imported, %d already there",
		s.Accounts, s.AccountsSkipped, s.RosterItems, s.RosterItemsSkipped, s.Rooms, s.RoomsSkipped,
		s.Messages, s.MessagesSkipped, s.Took.Round(time.Millisecond), s.Rate(), s.UserMessages, s.UserMessagesSkipped)
}

// Run imports everything src holds.
func Run(ctx context.Context, src Source, o Options) (Summary, error) {
	began := time.Now()
	var sum Summary
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	host, mucHost, err := src.Hosts(ctx)
	if err != nil {
		return sum, err
	}
	if o.Host == "" {
		o.Host = host
	}
	if o.MUCHost == "" {
		o.MUCHost = mucHost
	}
	if o.Host == "" {
		return sum, errors.New("cannot tell the other server's domain from its data: give --host")
	}
	if o.MUCHost == "" {
		o.MUCHost = "conference." + o.Host
	}
	m := mapper{o: o}
	w := &writer{o: o, m: m, sum: &sum, began: began}
	if err := w.accounts(ctx, src); err != nil {
		return sum, err
	}
	if err := w.rosters(ctx, src); err != nil {
		return sum, err
	}
	if err := w.rooms(ctx, src); err != nil {
		return sum, err
	}
	if err := w.userArchives(ctx, src); err != nil {
		return sum, err
	}
	sum.Took = time.Since(began)
	return sum, nil
}

// mapper turns the other server's JIDs into Parley's: its domain becomes
// Parley's domain, its MUC service Parley's.
type mapper struct{ o Options }

func (m mapper) jid(j string) string {
	local, domain, ok := strings.Cut(j, "@")
	if !ok {
		local, domain = "", j
	}
	domain, res, _ := strings.Cut(domain, "/")
	switch strings.ToLower(domain) {
	case strings.ToLower(m.o.Host):
		domain = m.o.Domain
	case strings.ToLower(m.o.MUCHost):
		domain = m.o.MUCDomain
	}
	out := domain
	if local != "" {
		out = local + "@" + domain
	}
	if res != "" {
		out += "/" + res
	}
	return out
}

type writer struct {
	o     Options
	m     mapper
	sum   *Summary
	began time.Time
}

func (w *writer) accounts(ctx context.Context, src Source) error {
	accts, err := src.Accounts(ctx, w.o.Host)
	if err != nil {
		return fmt.Errorf("reading accounts: %w", err)
	}
	for _, a := range accts {
		name, err := auth.NormalizeUsername(a.Username)
		if err != nil {
			fmt.Fprintf(w.o.Log, "account %q skipped: %v\n", a.Username, err)
			continue
		}
		if _, err := w.o.Store.Account(ctx, name); err == nil {
			w.sum.AccountsSkipped++
			continue
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		creds := a.Scram
		var digest []storage.DigestCredential
		if a.Password != "" {
			if creds, err = auth.DeriveCredentials(name, a.Password); err != nil {
				return fmt.Errorf("account %s: %w", name, err)
			}
			if digest, err = auth.DeriveDigestCredentials(name, w.o.Domain, a.Password); err != nil {
				return fmt.Errorf("account %s: %w", name, err)
			}
		}
		if err := w.o.Store.CreateAccount(ctx, name, creds, digest, nil); err != nil {
			if errors.Is(err, storage.ErrExists) {
				w.sum.AccountsSkipped++
				continue
			}
			return fmt.Errorf("account %s: %w", name, err)
		}
		w.sum.Accounts++
	}
	return nil
}

func (w *writer) rosters(ctx context.Context, src Source) error {
	items, err := src.Rosters(ctx, w.o.Host)
	if err != nil {
		return fmt.Errorf("reading rosters: %w", err)
	}
	for _, it := range items {
		owner, err := auth.NormalizeUsername(it.Owner)
		if err != nil {
			continue
		}
		contact := w.m.jid(it.JID)
		if _, err := w.o.Store.RosterItem(ctx, owner, contact); err == nil {
			w.sum.RosterItemsSkipped++
			continue
		}
		sub := it.Subscription
		switch sub {
		case storage.SubscriptionBoth, storage.SubscriptionFrom, storage.SubscriptionTo, storage.SubscriptionNone:
		default:
			sub = storage.SubscriptionNone
		}
		_, err = w.o.Store.UpdateRoster(ctx, owner, contact, func(st *storage.RosterState) error {
			if st.OnRoster {
				return nil
			}
			st.OnRoster = true
			st.Item = storage.RosterItem{Owner: owner, JID: contact, Name: it.Name, Subscription: sub, Ask: it.Ask, Groups: it.Groups}
			return nil
		})
		if errors.Is(err, storage.ErrNotFound) {
			fmt.Fprintf(w.o.Log, "roster item %s of %s skipped: no such account\n", contact, owner)
			continue
		}
		if err != nil {
			return fmt.Errorf("roster of %s: %w", owner, err)
		}
		w.sum.RosterItems++
	}
	return nil
}

func (w *writer) rooms(ctx context.Context, src Source) error {
	rooms, err := src.Rooms(ctx, w.o.MUCHost)
	if err != nil {
		return fmt.Errorf("reading rooms: %w", err)
	}
	if err := w.category(ctx); err != nil {
		return err
	}
	for i, r := range rooms {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, existed, err := w.room(ctx, r)
		if err != nil {
			return fmt.Errorf("room %s: %w", r.Name, err)
		}
		if err := w.history(ctx, src, r.Name, name, existed, i, len(rooms)); err != nil {
			return fmt.Errorf("room %s: %w", r.Name, err)
		}
	}
	if w.o.Progress != nil {
		fmt.Fprintf(w.o.Progress, "\r\x1b[K[%s] %d rooms, %d messages\n", strings.Repeat("#", progressWidth), len(rooms), w.sum.Messages)
	}
	return nil
}

// category creates the category rooms go to, if it is missing, with the
// default category's policy.
func (w *writer) category(ctx context.Context) error {
	if w.o.Category == "" {
		w.o.Category = muc.DefaultCategory
	}
	if _, err := w.o.Store.Category(ctx, w.o.Category); !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	def, err := w.o.Store.Category(ctx, muc.DefaultCategory)
	if err != nil {
		return err
	}
	def.Name, def.Description = w.o.Category, "Rooms imported from "+w.o.MUCHost
	def.Created, def.Updated = time.Time{}, time.Time{}
	return w.o.Engine.PutCategory(ctx, muc.ActorAdmin, def)
}

// room creates r unless a room of its name exists; it returns Parley's
// name for it and whether it existed.
func (w *writer) room(ctx context.Context, r Room) (string, bool, error) {
	name := strings.ToLower(r.Name)
	if _, err := w.o.Store.Room(ctx, name); err == nil {
		w.sum.RoomsSkipped++
		return name, true, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return "", false, err
	}
	privacy := muc.Open
	switch {
	case r.MembersOnly && r.Public:
		privacy = muc.Closed
	case r.MembersOnly:
		privacy = muc.Secret
	}
	req := muc.CreateRoomRequest{
		Room: storage.Room{
			Name: name, Category: w.o.Category, Title: r.Title, Description: r.Description,
			Subject: r.Subject, SubjectNick: r.SubjectNick, SubjectTime: r.SubjectTime.UTC(),
			Moderated: r.Moderated, Password: r.Password, MaxUsers: r.MaxUsers,
		},
		Creator: muc.ActorAdmin,
		Privacy: privacy,
	}
	if r.WhoIsAnyone {
		req.Room.WhoIs = "anyone"
	}
	var admins, outcasts []string
	for j, aff := range r.Affiliations {
		j = w.m.jid(j)
		switch aff {
		case storage.AffiliationOwner:
			req.Managers = append(req.Managers, j)
		case storage.AffiliationAdmin:
			admins = append(admins, j)
		case storage.AffiliationMember:
			// In a moderated room members have voice (XEP-0045 §5.1.1):
			// Parley's presenters.
			if r.Moderated {
				req.Presenters = append(req.Presenters, j)
			} else {
				req.Members = append(req.Members, j)
			}
		case storage.AffiliationOutcast:
			outcasts = append(outcasts, j)
		}
	}
	if _, err := w.o.Engine.CreateRoom(ctx, req); err != nil {
		return "", false, err
	}
	for _, l := range []struct {
		jids []string
		aff  muc.Affiliation
	}{{admins, muc.AffAdmin}, {outcasts, muc.AffOutcast}} {
		for _, j := range l.jids {
			if err := w.o.Engine.SetAffiliation(ctx, name, muc.ActorAdmin, j, l.aff, "imported"); err != nil {
				return "", false, fmt.Errorf("%s %s: %w", l.aff, j, err)
			}
		}
	}
	if !r.Public && !r.MembersOnly {
		// Open but unlisted: Parley's privacies have no such room, the
		// flags do.
		if _, err := w.o.Engine.Configure(ctx, muc.ActorAdmin, name, func(s *storage.Room) error {
			s.Public = false
			return nil
		}); err != nil {
			return "", false, err
		}
	}
	w.sum.Rooms++
	return name, false, nil
}

// prefixImport feeds a run of messages, in archive order, to flush in
// batches, leaving out those an earlier run imported. What an earlier run
// imported is always a prefix of the archive (batches are transactions,
// written in order): while skipping, a probe batch is gathered; if its
// last message is known all are, else each is looked up until the first
// one missing, and from there on everything is new.
type prefixImport[T any] struct {
	size     int
	skipping bool
	known    func(T) bool
	flush    func(batch []T, final bool) error
	batch    []T
	probe    []T
	skipped  int
}

func (p *prefixImport[T]) add(it T) error {
	if p.skipping {
		p.probe = append(p.probe, it)
		if len(p.probe) >= p.size {
			return p.resolve()
		}
		return nil
	}
	p.batch = append(p.batch, it)
	if len(p.batch) >= p.size {
		b := p.batch
		p.batch = nil
		return p.flush(b, false)
	}
	return nil
}

func (p *prefixImport[T]) resolve() error {
	if len(p.probe) == 0 {
		return nil
	}
	if p.known(p.probe[len(p.probe)-1]) {
		p.skipped += len(p.probe)
		p.probe = p.probe[:0]
		return nil
	}
	i := 0
	for i < len(p.probe) && p.known(p.probe[i]) {
		i++
	}
	p.skipped += i
	p.skipping = false
	rest := p.probe[i:]
	p.probe = nil
	for _, it := range rest {
		if err := p.add(it); err != nil {
			return err
		}
	}
	return nil
}

// finish flushes what is left, final.
func (p *prefixImport[T]) finish() error {
	if p.skipping {
		if err := p.resolve(); err != nil {
			return err
		}
	}
	b := p.batch
	p.batch = nil
	return p.flush(b, true)
}

// history imports the room's archive after what an earlier run imported.
func (w *writer) history(ctx context.Context, src Source, oldName, name string, existed bool, index, rooms int) error {
	var (
		imported int
		sp       span
	)
	event := func(n int) storage.OutboxEvent {
		return w.event(name, map[string]any{"from": oldName + "@" + w.o.MUCHost}, n, sp)
	}
	p := &prefixImport[storage.HistoryMessage]{
		size: w.o.Batch, skipping: existed,
		known: func(h storage.HistoryMessage) bool {
			_, err := w.o.Store.HistoryByStanzaID(ctx, name, h.StanzaID)
			return err == nil
		},
	}
	p.flush = func(batch []storage.HistoryMessage, final bool) error {
		for _, h := range batch {
			sp.see(h.StanzaID, h.Time)
		}
		var ev *storage.OutboxEvent
		if final && imported+len(batch) > 0 {
			e := event(imported + len(batch))
			ev = &e
		}
		switch {
		case len(batch) > 0:
			if _, err := w.o.Store.ImportHistory(ctx, batch, ev); err != nil {
				return err
			}
		case ev != nil:
			return w.o.Store.AppendOutbox(ctx, *ev)
		default:
			return nil
		}
		imported += len(batch)
		w.sum.Messages += len(batch)
		w.progress(name, index, rooms, imported)
		if w.o.AfterBatch != nil && !final {
			return w.o.AfterBatch(name, imported)
		}
		return nil
	}
	err := src.History(ctx, w.o.MUCHost, oldName, func(msg Message) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, ok := w.message(name, msg)
		if !ok {
			return nil
		}
		return p.add(h)
	})
	if err == nil {
		err = p.finish()
	} else if imported > 0 {
		// Interrupted: what was committed is recorded all the same (the
		// next run records the rest).
		if aerr := w.o.Store.AppendOutbox(context.WithoutCancel(ctx), event(imported)); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	w.sum.MessagesSkipped += p.skipped
	if err != nil {
		return err
	}
	w.logf("room %s: %d messages imported\n", name, imported)
	return nil
}

// logf writes a line to the log, first clearing the progress line when
// both go to one terminal.
func (w *writer) logf(format string, args ...any) {
	if w.o.Progress != nil {
		fmt.Fprint(w.o.Progress, "\r\x1b[K")
	}
	fmt.Fprintf(w.o.Log, format, args...)
}

// userArchives imports the accounts' own archives, each after what an
// earlier run imported of it, with one compliance event per account.
func (w *writer) userArchives(ctx context.Context, src Source) error {
	var (
		owner    string // the account being imported, normalised
		p        *prefixImport[storage.ArchivedMessage]
		imported int
		skip     bool // the account does not exist in Parley
	)
	var sp span
	done := func() error {
		if p == nil {
			return nil
		}
		err := p.finish()
		w.sum.UserMessagesSkipped += p.skipped
		p = nil
		return err
	}
	start := func(name string) error {
		if err := done(); err != nil {
			return err
		}
		owner, imported, sp = name, 0, span{}
		_, err := w.o.Store.Account(ctx, name)
		if skip = errors.Is(err, storage.ErrNotFound); skip {
			w.logf("archive of %s skipped: no such account\n", name)
			return nil
		} else if err != nil {
			return err
		}
		p = &prefixImport[storage.ArchivedMessage]{
			size: w.o.Batch, skipping: true,
			known: func(m storage.ArchivedMessage) bool {
				_, err := w.o.Store.ArchivedByStanzaID(ctx, m.Owner, m.StanzaID)
				return err == nil
			},
		}
		p.flush = func(batch []storage.ArchivedMessage, final bool) error {
			for _, m := range batch {
				sp.see(m.StanzaID, m.Time)
			}
			var ev *storage.OutboxEvent
			if final && imported+len(batch) > 0 {
				e := w.event("", map[string]any{"account": owner + "@" + w.o.Domain, "from": "archive of " + owner + "@" + w.o.Host},
					imported+len(batch), sp)
				ev = &e
			}
			if len(batch) == 0 && ev == nil {
				return nil
			}
			if err := w.o.Store.ArchiveMessages(ctx, batch, ev); err != nil {
				return fmt.Errorf("archive of %s: %w", owner, err)
			}
			imported += len(batch)
			w.sum.UserMessages += len(batch)
			return nil
		}
		return nil
	}
	err := src.UserHistory(ctx, w.o.Host, func(m UserMessage) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, err := auth.NormalizeUsername(m.Owner)
		if err != nil {
			return nil
		}
		if name != owner || (p == nil && !skip) {
			if err := start(name); err != nil {
				return err
			}
		}
		if skip || m.Stanza == nil {
			return nil
		}
		body, ok := childText(m.Stanza, nsClient, "body")
		if !ok {
			return nil
		}
		self := strings.ToLower(m.Owner + "@" + w.o.Host)
		out := strings.ToLower(bare(m.Stanza.AttrValue("from"))) == self
		return p.add(storage.ArchivedMessage{
			Owner: name, StanzaID: m.ID, With: w.m.jid(bare(m.With)), Outgoing: out, Body: body,
			Stanza: storedDirect(m.Stanza, w.m, m.ID, name+"@"+w.o.Domain), Time: m.Time,
		})
	})
	if err != nil {
		return err
	}
	return done()
}

// span is the first and last message a run imported of one archive.
type span struct {
	firstID, lastID string
	firstAt, lastAt time.Time
}

func (s *span) see(id string, at time.Time) {
	if s.firstID == "" {
		s.firstID, s.firstAt = id, at
	}
	s.lastID, s.lastAt = id, at
}

// event is the compliance record of one room's or account's import run:
// what it came from, how many messages, the first and the last.
func (w *writer) event(room string, payload map[string]any, n int, sp span) storage.OutboxEvent {
	payload["messages"] = n
	if sp.firstID != "" {
		payload["first_id"], payload["first_time"] = sp.firstID, sp.firstAt.UTC()
		payload["last_id"], payload["last_time"] = sp.lastID, sp.lastAt.UTC()
	}
	b, _ := json.Marshal(payload)
	return storage.OutboxEvent{
		EventID: "import-" + randomID(),
		Type:    "import",
		Room:    room,
		Actor:   muc.ActorAdmin,
		Payload: b,
	}
}

// message turns an archived message into a history row; ok is false for
// what Parley does not keep (no body and no subject).
func (w *writer) message(room string, msg Message) (storage.HistoryMessage, bool) {
	st := msg.Stanza
	if st == nil {
		return storage.HistoryMessage{}, false
	}
	body, hasBody := childText(st, nsClient, "body")
	subject, hasSubject := childText(st, nsClient, "subject")
	kind := storage.KindPost
	switch {
	case hasBody:
	case hasSubject:
		kind, body = storage.KindSubject, subject
	default:
		return storage.HistoryMessage{}, false
	}
	real := msg.RealJID
	if real == "" {
		real = mucUserJID(st)
	}
	if real != "" {
		real = w.m.jid(bare(real))
	}
	var alt []string
	for _, c := range st.Elements() {
		if c.Name.Space == nsClient && c.Name.Local == "body" && c.Text() != body {
			alt = append(alt, c.Text())
		}
	}
	return storage.HistoryMessage{
		Room:       room,
		StanzaID:   msg.ID,
		OriginID:   originID(st),
		OccupantID: occupantID(st),
		Nick:       msg.Nick,
		RealJID:    real,
		FrontDoor:  "xmpp",
		Kind:       kind,
		Body:       body,
		AltBodies:  strings.Join(alt, "\n"),
		Stanza:     stored(st),
		Time:       msg.Time,
	}, true
}

func bare(j string) string {
	b, _, _ := strings.Cut(j, "/")
	return b
}

// progressWidth is the width of the progress bar (rooms done).
const progressWidth = 20

// progress redraws the progress line.
func (w *writer) progress(room string, index, rooms, imported int) {
	if w.o.Progress == nil {
		return
	}
	done := progressWidth * index / max(rooms, 1)
	bar := strings.Repeat("#", done) + strings.Repeat(".", progressWidth-done)
	rate := float64(w.sum.Messages) / max(time.Since(w.began).Seconds(), 1e-3)
	fmt.Fprintf(w.o.Progress, "\r[%s] room %d/%d %-20.20s %8d messages  %6.0f/s ", bar, index+1, rooms, room, imported, rate)
}
