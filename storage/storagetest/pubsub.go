package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/parleychat/parley/storage"
)

func pepNode(owner, name string, max int) storage.PubSubNode {
	return storage.PubSubNode{Owner: owner, Name: name, AccessModel: storage.AccessPresence,
		MaxItems: max, PersistItems: true, SendLast: storage.SendLastOnSubAndPresence}
}

func (e *env) publish(owner, node, id, payload string, create *storage.PubSubNode) storage.PubSubNode {
	e.t.Helper()
	n, err := e.store.PublishPubSubItem(e.ctx, storage.PubSubItem{Owner: owner, Node: node, ID: id,
		Payload: []byte(payload), Publisher: owner + "@example.com/phone"}, create)
	if err != nil {
		e.t.Fatalf("PublishPubSubItem(%s, %s, %s): %v", owner, node, id, err)
	}
	return n
}

func (e *env) itemIDs(owner, node string, ids []string, max int) []string {
	e.t.Helper()
	items, err := e.store.PubSubItems(e.ctx, owner, node, ids, max)
	if err != nil {
		e.t.Fatalf("PubSubItems(%s, %s): %v", owner, node, err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

var pubsubTests = []test{
	{"AutoCreateOnPublishAndNotWithout", func(t *testing.T, e *env) {
		e.createAccount("alice")
		_, err := e.store.PublishPubSubItem(e.ctx, storage.PubSubItem{Owner: "alice", Node: "n", ID: "1"}, nil)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("publish to a missing node without create = %v, want ErrNotFound", err)
		}
		create := pepNode("", "", 1)
		create.AccessModel = storage.AccessOpen
		n := e.publish("alice", "urn:xmpp:avatar:data", "abc", "<data xmlns='urn:xmpp:avatar:data'>AAAA</data>", &create)
		if n.Owner != "alice" || n.Name != "urn:xmpp:avatar:data" || n.AccessModel != storage.AccessOpen || n.Created.IsZero() {
			t.Fatalf("created node %+v", n)
		}
		got, err := e.store.PubSubNode(e.ctx, "alice", "urn:xmpp:avatar:data")
		if err != nil || got.AccessModel != storage.AccessOpen || got.MaxItems != 1 || !got.PersistItems {
			t.Fatalf("PubSubNode = %+v, %v", got, err)
		}
		e.reopen()
		items, err := e.store.PubSubItems(e.ctx, "alice", "urn:xmpp:avatar:data", nil, 0)
		if err != nil || len(items) != 1 || string(items[0].Payload) != "<data xmlns='urn:xmpp:avatar:data'>AAAA</data>" ||
			items[0].Publisher != "alice@example.com/phone" || items[0].Published.IsZero() {
			t.Fatalf("items after reopen = %+v, %v", items, err)
		}
		if _, err := e.store.PublishPubSubItem(e.ctx, storage.PubSubItem{Owner: "nobody", Node: "n", ID: "1"}, &create); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("publish for an unknown account = %v, want ErrNotFound", err)
		}
	}},
	{"MaxItemsKeepsNewestAndRepublishMovesToFront", func(t *testing.T, e *env) {
		e.createAccount("alice")
		c := pepNode("", "", 3)
		for i := 1; i <= 5; i++ {
			e.publish("alice", "urn:xmpp:bookmarks:1", fmt.Sprint(i), "", &c)
		}
		if got := e.itemIDs("alice", "urn:xmpp:bookmarks:1", nil, 0); !slices.Equal(got, []string{"5", "4", "3"}) {
			t.Fatalf("items = %v, want the newest three, newest first", got)
		}
		e.publish("alice", "urn:xmpp:bookmarks:1", "3", "again", nil)
		if got := e.itemIDs("alice", "urn:xmpp:bookmarks:1", nil, 0); !slices.Equal(got, []string{"3", "5", "4"}) {
			t.Fatalf("after republishing 3: %v", got)
		}
		if got := e.itemIDs("alice", "urn:xmpp:bookmarks:1", nil, 2); !slices.Equal(got, []string{"3", "5"}) {
			t.Fatalf("max 2: %v", got)
		}
		if got := e.itemIDs("alice", "urn:xmpp:bookmarks:1", []string{"4", "9"}, 0); !slices.Equal(got, []string{"4"}) {
			t.Fatalf("by id: %v", got)
		}
		n, _ := e.store.PubSubNode(e.ctx, "alice", "urn:xmpp:bookmarks:1")
		n.MaxItems = 1
		if err := e.store.ConfigurePubSubNode(e.ctx, n); err != nil {
			t.Fatal(err)
		}
		if got := e.itemIDs("alice", "urn:xmpp:bookmarks:1", nil, 0); !slices.Equal(got, []string{"3"}) {
			t.Fatalf("after max_items=1: %v", got)
		}
	}},
	{"NotPersistentKeepsLastOnly", func(t *testing.T, e *env) {
		e.createAccount("alice")
		c := pepNode("", "", 10)
		c.PersistItems = false
		e.publish("alice", "tune", "a", "", &c)
		e.publish("alice", "tune", "b", "", nil)
		if got := e.itemIDs("alice", "tune", nil, 0); !slices.Equal(got, []string{"b"}) {
			t.Fatalf("items = %v, want the last only", got)
		}
	}},
	{"RetractPurgeDelete", func(t *testing.T, e *env) {
		e.createAccount("alice")
		c := pepNode("", "", 10)
		e.publish("alice", "n", "a", "", &c)
		e.publish("alice", "n", "b", "", nil)
		if err := e.store.RetractPubSubItem(e.ctx, "alice", "n", "a"); err != nil {
			t.Fatal(err)
		}
		if err := e.store.RetractPubSubItem(e.ctx, "alice", "n", "a"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("retracting again = %v, want ErrNotFound", err)
		}
		if err := e.store.PurgePubSubNode(e.ctx, "alice", "n"); err != nil {
			t.Fatal(err)
		}
		if got := e.itemIDs("alice", "n", nil, 0); len(got) != 0 {
			t.Fatalf("after purge: %v", got)
		}
		if err := e.store.PurgePubSubNode(e.ctx, "alice", "none"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("purge of a missing node = %v", err)
		}
		e.publish("alice", "n", "c", "", nil)
		if err := e.store.DeletePubSubNode(e.ctx, "alice", "n"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.PubSubItems(e.ctx, "alice", "n", nil, 0); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("items of a deleted node: %v", err)
		}
		if err := e.store.DeletePubSubNode(e.ctx, "alice", "n"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deleting again = %v", err)
		}
		if err := e.store.CreatePubSubNode(e.ctx, pepNode("alice", "x", 1)); err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreatePubSubNode(e.ctx, pepNode("alice", "x", 1)); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("creating twice = %v, want ErrExists", err)
		}
		if err := e.store.ConfigurePubSubNode(e.ctx, pepNode("alice", "y", 1)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("configuring a missing node = %v", err)
		}
		bad := pepNode("alice", "z", 0)
		if err := e.store.CreatePubSubNode(e.ctx, bad); err == nil {
			t.Fatal("a node with max_items 0 was created")
		}
		bad = pepNode("alice", "z", 1)
		bad.AccessModel = "roster"
		if err := e.store.CreatePubSubNode(e.ctx, bad); err == nil {
			t.Fatal("a node with an unknown access model was created")
		}
	}},
	{"LastItemsOfOwnersAndNodes", func(t *testing.T, e *env) {
		for _, u := range []string{"alice", "bob", "carol"} {
			e.createAccount(u)
		}
		c := pepNode("", "", 5)
		e.publish("alice", "nick", "1", "<nick>A1</nick>", &c)
		e.publish("alice", "nick", "2", "<nick>A2</nick>", nil)
		e.publish("alice", "geo", "1", "", &c)
		e.publish("bob", "nick", "1", "<nick>B</nick>", &c)
		e.publish("carol", "nick", "1", "<nick>C</nick>", &c)
		got, err := e.store.LastPubSubItems(e.ctx, []string{"alice", "bob"}, []string{"nick", "mood"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Node.Owner != "alice" || got[0].Item.ID != "2" || string(got[0].Item.Payload) != "<nick>A2</nick>" ||
			got[1].Node.Owner != "bob" || got[1].Item.Node != "nick" || got[1].Node.MaxItems != 5 {
			t.Fatalf("LastPubSubItems = %+v", got)
		}
		// A roster larger than one query's worth of owners.
		many := []string{"carol"}
		for i := range 1200 {
			many = append(many, fmt.Sprintf("nobody%d", i))
		}
		many = append(many, "alice")
		got, err = e.store.LastPubSubItems(e.ctx, many, []string{"nick"})
		if err != nil || len(got) != 2 || got[0].Node.Owner != "alice" || got[1].Node.Owner != "carol" {
			t.Fatalf("LastPubSubItems over 1202 owners = %+v, %v", got, err)
		}
		nodes, err := e.store.PubSubNodes(e.ctx, "alice")
		if err != nil || len(nodes) != 2 || nodes[0].Name != "geo" || nodes[1].Name != "nick" {
			t.Fatalf("PubSubNodes = %+v, %v", nodes, err)
		}
		if err := e.store.DeleteAccount(e.ctx, "alice", nil); err != nil {
			t.Fatal(err)
		}
		if nodes, _ := e.store.PubSubNodes(e.ctx, "alice"); len(nodes) != 0 {
			t.Fatalf("nodes of a deleted account: %+v", nodes)
		}
	}},
	{"PrivateXMLAndVCard", func(t *testing.T, e *env) {
		e.createAccount("alice")
		if _, err := e.store.PrivateXML(e.ctx, "alice", "{storage:bookmarks}storage"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("PrivateXML before any = %v", err)
		}
		if err := e.store.PutPrivateXML(e.ctx, "alice", "{storage:bookmarks}storage", []byte("<storage xmlns='storage:bookmarks'/>")); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutPrivateXML(e.ctx, "alice", "{storage:bookmarks}storage", []byte("<storage xmlns='storage:bookmarks'><conference jid='r@c'/></storage>")); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutVCard(e.ctx, "alice", []byte("<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>")); err != nil {
			t.Fatal(err)
		}
		e.reopen()
		b, err := e.store.PrivateXML(e.ctx, "alice", "{storage:bookmarks}storage")
		if err != nil || string(b) != "<storage xmlns='storage:bookmarks'><conference jid='r@c'/></storage>" {
			t.Fatalf("PrivateXML = %q, %v", b, err)
		}
		v, err := e.store.VCard(e.ctx, "alice")
		if err != nil || string(v) != "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>" {
			t.Fatalf("VCard = %q, %v", v, err)
		}
		if err := e.store.PutVCard(e.ctx, "nobody", []byte("<vCard/>")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("PutVCard for an unknown account = %v", err)
		}
		if err := e.store.PutPrivateXML(e.ctx, "nobody", "{a}b", []byte("<b xmlns='a'/>")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("PutPrivateXML for an unknown account = %v", err)
		}
		if err := e.store.DeleteAccount(e.ctx, "alice", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.VCard(e.ctx, "alice"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("vCard of a deleted account: %v", err)
		}
	}},
}
