package pep

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
)

func newService(t *testing.T, users ...string) (*Service, storage.Store) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, u := range users {
		if err := store.CreateAccount(t.Context(), u, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return New(store, "example.com"), store
}

func subscribe(t *testing.T, store storage.Store, owner, contact, sub string) {
	t.Helper()
	_, err := store.UpdateRoster(t.Context(), owner, contact, func(st *storage.RosterState) error {
		st.OnRoster, st.Item.Subscription = true, sub
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// XEP-0060 §4.5: open nodes are readable by anyone, presence nodes by the
// owner's presence subscribers (from/both on the owner's roster), and
// whitelisted nodes by the owner only; XEP-0163 §4.3 notifies the same.
func TestAccessModels(t *testing.T) {
	s, store := newService(t, "alice")
	subscribe(t, store, "alice", "bob@example.com", storage.SubscriptionFrom)
	subscribe(t, store, "alice", "carol@example.com", storage.SubscriptionTo)
	cases := []struct {
		model, reader string
		want          error
	}{
		{storage.AccessOpen, "stranger@elsewhere.example", nil},
		{storage.AccessPresence, "alice@example.com", nil},
		{storage.AccessPresence, "bob@example.com", nil},
		{storage.AccessPresence, "carol@example.com", ErrPresenceRequired},
		{storage.AccessPresence, "stranger@elsewhere.example", ErrPresenceRequired},
		{storage.AccessWhitelist, "alice@example.com", nil},
		{storage.AccessWhitelist, "bob@example.com", ErrClosedNode},
	}
	for _, c := range cases {
		n := Default("alice", "n")
		n.AccessModel = c.model
		if err := s.MayRead(t.Context(), n, c.reader); !errors.Is(err, c.want) && err != c.want {
			t.Errorf("%s node, reader %s: %v, want %v", c.model, c.reader, err, c.want)
		}
	}
	n := Default("alice", "n")
	subs, err := s.Subscribers(t.Context(), n)
	if err != nil || !slices.Equal(subs, []string{"alice@example.com", "bob@example.com"}) {
		t.Errorf("presence node subscribers = %v, %v", subs, err)
	}
	n.AccessModel = storage.AccessWhitelist
	if subs, _ := s.Subscribers(t.Context(), n); !slices.Equal(subs, []string{"alice@example.com"}) {
		t.Errorf("whitelisted node subscribers = %v", subs)
	}
}

// XEP-0060 §7.1.5: publish-options create a missing node with them and
// are preconditions on an existing one.
func TestPublishOptions(t *testing.T) {
	s, _ := newService(t, "alice")
	open := map[string][]string{FieldAccessModel: {"open"}, FieldMaxItems: {"max"}}
	pub, err := s.Publish(t.Context(), "alice", "alice@example.com/a", "devices", "", []byte("<list/>"), open)
	if err != nil || pub.Node.AccessModel != storage.AccessOpen || pub.Node.MaxItems != storage.MaxPubSubItemsPerNode || pub.Item.ID == "" {
		t.Fatalf("first publish = %+v, %v", pub, err)
	}
	if _, err := s.Publish(t.Context(), "alice", "alice@example.com/a", "devices", "current", []byte("<list/>"), open); err != nil {
		t.Fatalf("matching options: %v", err)
	}
	for _, opts := range []map[string][]string{
		{FieldAccessModel: {"presence"}},
		{FieldMaxItems: {"1"}},
		{"pubsub#some_option": {"1"}},
		{FieldNotifyRetract: {"false"}},
	} {
		if _, err := s.Publish(t.Context(), "alice", "alice@example.com/a", "devices", "x", []byte("<list/>"), opts); !errors.Is(err, ErrPrecondition) {
			t.Errorf("options %v: %v, want ErrPrecondition", opts, err)
		}
	}
	if _, err := s.Publish(t.Context(), "alice", "alice@example.com/a", "new", "x", []byte("<a/>"), map[string][]string{FieldAccessModel: {"authorize"}}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("an access model Parley does not offer: %v", err)
	}
	if _, err := s.Create(t.Context(), "alice", "devices", nil); !errors.Is(err, ErrNodeExists) {
		t.Errorf("creating an existing node: %v", err)
	}
	if _, err := s.Retract(t.Context(), "alice", "devices", "nope"); !errors.Is(err, ErrItemNotFound) {
		t.Errorf("retracting a missing item: %v", err)
	}
	if _, err := s.Configure(t.Context(), "alice", "nope", nil); !errors.Is(err, ErrNodeNotFound) {
		t.Errorf("configuring a missing node: %v", err)
	}
}
