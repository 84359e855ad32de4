package pool

import (
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// presences lists the nicks and roles of the presence events r got, and
// the others a join showed it ("joined:nick").
func (r *recorder) presences() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		switch ev.Kind {
		case muc.EventJoined:
			for _, o := range ev.Joined.Others {
				out = append(out, "joined:"+o.Nick)
			}
		case muc.EventPresence:
			out = append(out, string(ev.Occupant.Role)+":"+ev.Occupant.Nick)
		}
	}
	return out
}

// A room that broadcasts moderators only keeps to it whichever node its
// occupants and watchers are on: the host's engine decides for every
// remote session.
func TestPoolPresenceBroadcastAcrossNodes(t *testing.T) {
	nodes := startNodes(t, testDSN(t), RoleActive, RoleActive)
	createOpenRoom(t, nodes[0], "big")
	if _, err := nodes[1].p.Configure(t.Context(), muc.ActorAdmin, "big", func(r *storage.Room) error {
		return muc.SetBroadcastRoles(r, []muc.Role{muc.RoleModerator})
	}); err != nil {
		t.Fatal(err)
	}
	var clients []*client
	for i, user := range []string{"ann", "ben", "cat", "dan"} {
		clients = append(clients, join(t, nodes[i%2], "big", user))
	}
	var watchers []*recorder
	for _, n := range nodes {
		w := &recorder{}
		stop := n.p.Watch("big", "watcher@localhost", w, func(o []muc.Occupant) {
			if len(o) != 0 {
				t.Errorf("watch on %s: first snapshot %v, want nobody", n.name, o)
			}
		})
		t.Cleanup(stop)
		watchers = append(watchers, w)
	}
	if err := nodes[0].p.SetRole(t.Context(), "big", muc.ActorAdmin, "cat", muc.RoleModerator, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "everyone sees cat become a moderator", func() bool {
		for _, r := range append(watchers, clients[0].rec, clients[1].rec, clients[3].rec) {
			if !slices.Contains(r.presences(), "moderator:cat") {
				return false
			}
		}
		return true
	})
	eve := join(t, nodes[1], "big", "eve")
	waitFor(t, 5*time.Second, "eve is shown cat", func() bool { return slices.Contains(eve.rec.presences(), "joined:cat") })
	// Posted after everything above: once it is everywhere, so is every
	// presence the host sent before it.
	if err := clients[0].post(t.Context(), "big", "done"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the post reaches everyone", func() bool {
		for _, c := range append(clients, eve) {
			if len(c.rec.bodies()) == 0 {
				return false
			}
		}
		return true
	})
	want := map[string][]string{
		"ann": {"moderator:cat"}, "ben": {"moderator:cat"}, "cat": {"moderator:cat"}, "dan": {"moderator:cat"},
		"eve": {"joined:cat"},
	}
	for _, c := range append(clients, eve) {
		nick := c.user[:3]
		if got := c.rec.presences(); !slices.Equal(got, want[nick]) {
			t.Errorf("%s got presences %q, want %q", nick, got, want[nick])
		}
	}
	for i, w := range watchers {
		if got := w.presences(); !slices.Equal(got, []string{"moderator:cat"}) {
			t.Errorf("watcher on %s got %q, want cat only", nodes[i].name, got)
		}
	}
	var shown []string
	nodes[1].p.Snapshot("big", func(o []muc.Occupant) {
		for _, x := range o {
			shown = append(shown, x.Nick)
		}
	})
	if !slices.Equal(shown, []string{"cat"}) {
		t.Errorf("Snapshot from %s: %v, want cat", nodes[1].name, shown)
	}
	if n := len(nodes[1].p.Occupants("big")); n != 5 {
		t.Errorf("Occupants: %d, want all 5", n)
	}
}
