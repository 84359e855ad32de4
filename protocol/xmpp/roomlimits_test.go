package xmpp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// A user may create muc.Config.MaxRoomsPerUser rooms (issue 18, Medium: a
// user made 1,000 persistent rooms in 1.8 s); the next join that would
// create one is refused with policy-violation, the refusal is counted,
// and other users are not affected.
func TestRoomCreationLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, func(c *Config) {
		e, err := muc.New(context.Background(), muc.Config{Store: c.Store.(storage.RoomStore), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Domain: c.Domain, MaxRoomsPerUser: 2, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		c.Rooms = e
	})
	ts.addUser(t, "maker", "secret")
	ts.addUser(t, "other", "secret")
	maker := ts.online(t, "maker", "secret", "m")
	for i := range 2 {
		join(t, maker, fmt.Sprintf("r%d@conference.localhost", i), "maker", "")
	}
	maker.send(`<presence id='third' to='r2@conference.localhost/maker'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	typ, cond, text := errorOf(t, maker.expect("refusal", isIQOrStanza("third")))
	if cond != "policy-violation" || typ != "modify" || !strings.Contains(text, "2 rooms") {
		t.Errorf("third room: %s %s %q, want modify policy-violation", typ, cond, text)
	}
	if got := counterValue(t, reg, "parley_muc_room_creations_refused_total"); got != 1 {
		t.Errorf("refusals counted: %v, want 1", got)
	}
	// Another user still creates rooms; the administrator is not limited.
	other := ts.online(t, "other", "secret", "o")
	join(t, other, "r2@conference.localhost", "other", "")
	for i := range 3 {
		ts.createRoom(t, fmt.Sprintf("admin%d", i), muc.Open, muc.Normal, nil, nil, nil)
	}
}

// counterValue is the value of the registered counter called name.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// disco#items on the MUC service pages with XEP-0059 (issue 18, Medium:
// every room in one answer): §2.1 max and after forward, §2.5 before
// backward, §2.4 index, §2.6 max 0 for the count; a list longer than a
// page comes with a <set/> even unasked.
func TestDiscoItemsPaging(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "alice", "secret")
	const n = discoItemsPage + 20
	for i := range n {
		ts.createRoom(t, fmt.Sprintf("room%04d", i), muc.Open, muc.Normal, nil, nil, nil)
	}
	a := ts.online(t, "alice", "secret", "a")
	items := func(id, rsm string) ([]string, *Element) {
		t.Helper()
		a.send(`<iq type='get' id='%s' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'>%s</query></iq>`, id, rsm)
		reply := a.expect(id, isIQ(id))
		q := reply.Child(nsDiscoItems, "query")
		if reply.AttrValue("type") != "result" || q == nil {
			t.Fatalf("%s: %s", id, reply)
		}
		var got []string
		for _, it := range q.Elements() {
			if it.Name.Local == "item" {
				got = append(got, it.AttrValue("jid")+it.AttrValue("node"))
			}
		}
		return got, q.Child(nsRSM, "set")
	}
	text := func(set *Element, name string) string {
		if set == nil || set.Child(nsRSM, name) == nil {
			return ""
		}
		return set.Child(nsRSM, name).Text()
	}
	total := fmt.Sprint(n + 1) // the rooms and the general category
	all, set := items("plain", "")
	if len(all) != discoItemsPage || text(set, "count") != total || text(set, "last") != all[len(all)-1] {
		t.Fatalf("unasked: %d items, set %v", len(all), set)
	}
	page, set := items("p1", `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set>`)
	if len(page) != 10 || page[0] != "room0000@conference.localhost" || text(set, "first") != page[0] || text(set, "last") != page[9] || text(set, "count") != total {
		t.Fatalf("first page: %v %v", page, set)
	}
	page, set = items("p2", `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>`+text(set, "last")+`</after></set>`)
	if len(page) != 10 || page[0] != "room0010@conference.localhost" || set.Child(nsRSM, "first").AttrValue("index") != "10" {
		t.Fatalf("second page: %v %v", page, set)
	}
	page, _ = items("back", `<set xmlns='http://jabber.org/protocol/rsm'><max>5</max><before>room0010@conference.localhost</before></set>`)
	if strings.Join(page, " ") != "room0005@conference.localhost room0006@conference.localhost room0007@conference.localhost room0008@conference.localhost room0009@conference.localhost" {
		t.Errorf("page before: %v", page)
	}
	page, _ = items("last", `<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set>`)
	if len(page) != 2 || page[1] != "conference.localhostcategory/general" {
		t.Errorf("last page: %v", page)
	}
	page, _ = items("index", `<set xmlns='http://jabber.org/protocol/rsm'><max>1</max><index>300</index></set>`)
	if len(page) != 1 || page[0] != "room0300@conference.localhost" {
		t.Errorf("index 300: %v", page)
	}
	page, set = items("count", `<set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>`)
	if len(page) != 0 || text(set, "count") != total {
		t.Errorf("count only: %v %v", page, set)
	}
	a.send(`<iq type='get' id='gone' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'><set xmlns='http://jabber.org/protocol/rsm'><after>nosuch@conference.localhost</after></set></query></iq>`)
	if _, cond, _ := errorOf(t, a.expect("gone", isIQ("gone"))); cond != "item-not-found" {
		t.Errorf("after an unknown id: %s", cond)
	}
	a.send(`<iq type='get' id='feat' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if info := a.expect("feat", isIQ("feat")).String(); !strings.Contains(info, nsRSM) {
		t.Errorf("the service does not advertise RSM: %s", info)
	}
}
