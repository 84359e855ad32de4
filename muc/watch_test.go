package muc

import (
	"context"
	"slices"
	"testing"
)

func TestWatch(t *testing.T) {
	f := newFixture(t)
	f.createRoom("lobby", Open, Normal, nil, nil, nil)
	f.mustJoin("lobby", "bob@localhost", "bob")
	f.mustJoin("lobby", "amy@localhost", "amy")

	w := &recorder{}
	var first []string
	stop := f.e.Watch("lobby", "watcher@localhost", w, func(occ []Occupant) {
		for _, o := range occ {
			first = append(first, o.Nick)
		}
	})
	if !slices.Equal(first, []string{"amy", "bob"}) {
		t.Errorf("snapshot %v, want amy and bob by nick", first)
	}
	carol := f.mustJoin("lobby", "carol@localhost", "carol")
	if err := f.post("lobby", "bob@localhost", "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Leave(context.Background(), "lobby", "amy@localhost/amy", nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range w.take() {
		switch ev.Kind {
		case EventPresence:
			got = append(got, string(ev.Occupant.Role)+" "+ev.Occupant.Nick)
		case EventMessage:
			got = append(got, "message "+ev.Message.Body)
		default:
			got = append(got, "other")
		}
	}
	if want := []string{"participant carol", "message hi", "none amy"}; !slices.Equal(got, want) {
		t.Errorf("watcher saw %v, want %v", got, want)
	}
	carol.take()
	// The room empties: the watch goes on, and sees the next join.
	for _, u := range []string{"bob", "carol"} {
		if err := f.e.Leave(context.Background(), "lobby", u+"@localhost/"+u, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.take()
	f.mustJoin("lobby", "dan@localhost", "dan")
	if evs := w.take(); len(evs) != 1 || evs[0].Occupant.Nick != "dan" {
		t.Errorf("after the room emptied the watcher saw %+v", evs)
	}
	stop()
	f.mustJoin("lobby", "eve@localhost", "eve")
	if evs := w.take(); len(evs) != 0 {
		t.Errorf("a stopped watch saw %+v", evs)
	}
	var snap []string
	f.e.Snapshot("lobby", func(occ []Occupant) {
		for _, o := range occ {
			snap = append(snap, o.Nick)
		}
	})
	if !slices.Equal(snap, []string{"dan", "eve"}) {
		t.Errorf("Snapshot %v", snap)
	}
}
