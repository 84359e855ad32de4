package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// Mechanism names, as the protocol layer passes them.
const (
	sha1   = "SCRAM-SHA-1"
	sha256 = "SCRAM-SHA-256"
)

// cred returns a made-up but well-formed credential for mech; seed makes
// credentials tell apart.
func cred(mech string, seed byte) storage.ScramCredential {
	n := 20
	if mech == sha256 {
		n = 32
	}
	return storage.ScramCredential{
		Mechanism:  mech,
		Salt:       bytes.Repeat([]byte{seed, 0x00, 0xff}, 6),
		Iterations: 4096 + int(seed),
		StoredKey:  bytes.Repeat([]byte{seed + 1}, n),
		ServerKey:  bytes.Repeat([]byte{seed + 2, 0x80}, n/2),
	}
}

func sameCred(a, b storage.ScramCredential) bool {
	return a.Mechanism == b.Mechanism && a.Iterations == b.Iterations &&
		bytes.Equal(a.Salt, b.Salt) && bytes.Equal(a.StoredKey, b.StoredKey) &&
		bytes.Equal(a.ServerKey, b.ServerKey)
}

func wantCreds(t *testing.T, what string, got, want []storage.ScramCredential) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d credentials %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !sameCred(got[i], want[i]) {
			t.Fatalf("%s: credential %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// createAccount creates username with one SCRAM-SHA-256 credential.
func (e *env) createAccount(username string) {
	e.t.Helper()
	if err := e.store.CreateAccount(e.ctx, username, []storage.ScramCredential{cred(sha256, 1)}, nil, nil); err != nil {
		e.t.Fatalf("CreateAccount(%q): %v", username, err)
	}
}

// putRosterItem puts item on its owner's roster, through UpdateRoster (the
// one way a roster changes), and returns the new roster version.
func (e *env) putRosterItem(item storage.RosterItem) int64 {
	e.t.Helper()
	v, err := e.store.UpdateRoster(e.ctx, item.Owner, item.JID, func(st *storage.RosterState) error {
		st.OnRoster, st.Item = true, item
		return nil
	})
	if err != nil {
		e.t.Fatalf("UpdateRoster to put %+v: %v", item, err)
	}
	return v
}

// addPending stores p, through UpdateRoster.
func (e *env) addPending(p storage.PendingSubscription) {
	e.t.Helper()
	_, err := e.store.UpdateRoster(e.ctx, p.Owner, p.From, func(st *storage.RosterState) error {
		st.PendingIn = append([]byte{}, p.Stanza...)
		return nil
	})
	if err != nil {
		e.t.Fatalf("UpdateRoster to add the request of %s to %s: %v", p.From, p.Owner, err)
	}
}

func (e *env) roster(owner string) ([]storage.RosterItem, int64) {
	e.t.Helper()
	items, v, err := e.store.Roster(e.ctx, owner)
	if err != nil {
		e.t.Fatalf("Roster(%q): %v", owner, err)
	}
	return items, v
}

func (e *env) storeOffline(owner, from, stanza string) int64 {
	e.t.Helper()
	id, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{
		Owner: owner, From: from, Stanza: []byte(stanza),
	}, 0)
	if err != nil {
		e.t.Fatalf("StoreOffline(%s from %s): %v", owner, from, err)
	}
	return id
}

func (e *env) offline(owner string) []storage.OfflineMessage {
	e.t.Helper()
	msgs, err := e.store.OfflineMessages(e.ctx, owner)
	if err != nil {
		e.t.Fatalf("OfflineMessages(%q): %v", owner, err)
	}
	return msgs
}

func (e *env) offlineIDs(owner string) []int64 {
	e.t.Helper()
	var ids []int64
	for _, m := range e.offline(owner) {
		ids = append(ids, m.ID)
	}
	return ids
}

func (e *env) pending(owner string) []storage.PendingSubscription {
	e.t.Helper()
	ps, err := e.store.PendingSubscriptions(e.ctx, owner)
	if err != nil {
		e.t.Fatalf("PendingSubscriptions(%q): %v", owner, err)
	}
	return ps
}

// wantErrorIs fails unless err wraps target.
func wantErrorIs(t *testing.T, call string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %q", call, err, target)
	}
}

// wantInvalid fails unless err reports invalid input: an error, but none of
// the sentinels, which mean something else.
func wantInvalid(t *testing.T, call string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("%s: succeeded, want an error", call)
	case errors.Is(err, storage.ErrExists), errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrQuotaExceeded),
		errors.Is(err, storage.ErrNotEmpty):
		t.Fatalf("%s: got %v, want an invalid-input error", call, err)
	}
}

// wantTime fails unless got is in UTC, whole microseconds, and within a
// second of [from, to]: implementations may use the database's clock.
func wantTime(t *testing.T, what string, got, from, to time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s = %v: location %v, want UTC", what, got, got.Location())
	}
	if got.Nanosecond()%1000 != 0 {
		t.Errorf("%s = %v: not whole microseconds", what, got)
	}
	if got.Before(from.Add(-time.Second)) || got.After(to.Add(time.Second)) {
		t.Errorf("%s = %v, want between %v and %v", what, got, from, to)
	}
}

func wantRoster(t *testing.T, got, want []storage.RosterItem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("roster has %d items:\n%s\nwant %d:\n%s", len(got), formatItems(got), len(want), formatItems(want))
	}
	for i := range got {
		if !sameItem(got[i], want[i]) {
			t.Fatalf("roster item %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func sameItem(a, b storage.RosterItem) bool {
	return a.Owner == b.Owner && a.JID == b.JID && a.Name == b.Name &&
		a.Subscription == b.Subscription && a.Ask == b.Ask && slices.Equal(a.Groups, b.Groups) &&
		(a.Groups == nil) == (b.Groups == nil)
}

func formatItems(items []storage.RosterItem) string {
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "\t%+v\n", it)
	}
	return b.String()
}

func wantPending(t *testing.T, got, want []storage.PendingSubscription) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Owner == want[i].Owner && got[i].From == want[i].From && bytes.Equal(got[i].Stanza, want[i].Stanza)
	}
	if !ok {
		t.Fatalf("pending subscriptions:\n got %s\nwant %s", formatPending(got), formatPending(want))
	}
}

func formatPending(ps []storage.PendingSubscription) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("{%s <- %s %q}", p.Owner, p.From, p.Stanza))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// longString returns n copies of r: with a 4-byte rune it is the worst
// case for a utf8mb4 column.
func longString(r rune, n int) string {
	return strings.Repeat(string(r), n)
}
