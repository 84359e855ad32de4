package xmpp

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// XEP-0054, XEP-0153 and XEP-0398: a vCard with a PHOTO is readable by
// anyone, its hash goes into the owner's presence, and it is published as
// the PEP avatar (XEP-0084); a PEP avatar published by a new client
// becomes the vCard's PHOTO.
func TestVCardAvatar(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"alice", "bob"} {
		ts.addUser(t, u, "secret")
	}
	ts.befriend(t, "alice", "bob")
	bob := ts.login(t, "bob", "secret", "b")
	bob.presenceWithCaps(capsInfo(nsAvatarMetadata))
	bob.roundTrip()
	alice := ts.login(t, "alice", "secret", "a")

	img := []byte("\x89PNG\r\n\x1a\nnot really an image")
	alice.send(`<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard></iq>`, base64.StdEncoding.EncodeToString(img))
	if r := iqReply(alice, "v1"); r.AttrValue("type") != "result" {
		t.Fatalf("vCard set: %s", r)
	}
	hash := avatarID(img)
	ev := bob.expect("avatar metadata event", isEvent(nsAvatarMetadata))
	if s := ev.String(); !strings.Contains(s, `id="`+hash+`"`) || !strings.Contains(s, `bytes="`+strconv.Itoa(len(img))+`"`) {
		t.Fatalf("metadata event %s", ev)
	}
	bob.send(`<iq type='get' id='d1' to='alice@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:data'><item id='%s'/></items></pubsub></iq>`, hash)
	if r := iqReply(bob, "d1"); !strings.Contains(r.String(), base64.StdEncoding.EncodeToString(img)) {
		t.Fatalf("avatar data: %s", r)
	}

	alice.send(`<presence/>`)
	p := bob.expect("alice's presence", func(e *Element) bool {
		return e.Name.Local == "presence" && strings.HasPrefix(e.AttrValue("from"), "alice@")
	})
	if x := p.Child(nsVCardUpdate, "x"); x == nil || x.Child(nsVCardUpdate, "photo").Text() != hash {
		t.Fatalf("presence without the avatar hash: %s", p)
	}
	bob.send(`<iq type='get' id='g1' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`)
	if r := iqReply(bob, "g1"); !strings.Contains(r.String(), "<FN>Alice</FN>") {
		t.Fatalf("vCard get by a contact: %s", r)
	}

	// A new client publishes a PEP avatar: the vCard follows.
	img2 := []byte("GIF89a another one")
	h2 := avatarID(img2)
	alice.send(`<iq type='set' id='a1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:data'><item id='%s'><data xmlns='urn:xmpp:avatar:data'>%s</data></item></publish></pubsub></iq>`, h2, base64.StdEncoding.EncodeToString(img2))
	iqReply(alice, "a1")
	alice.send(`<iq type='set' id='a2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='%s'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='%d' id='%s' type='image/gif'/></metadata></item></publish></pubsub></iq>`, h2, len(img2), h2)
	iqReply(alice, "a2")
	bob.send(`<iq type='get' id='g2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`)
	r := iqReply(bob, "g2")
	if s := r.String(); !strings.Contains(s, "<TYPE>image/gif</TYPE>") || !strings.Contains(s, base64.StdEncoding.EncodeToString(img2)) || !strings.Contains(s, "<FN>Alice</FN>") {
		t.Fatalf("vCard after a PEP avatar: %s", r)
	}
	bob.send(`<iq type='set' id='x' to='alice@localhost'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>`)
	if r := iqReply(bob, "x"); r.AttrValue("type") != "error" {
		t.Fatalf("setting another's vCard: %s", r)
	}
}

// XEP-0398 §3 when a client made the avatar nodes first, with the default
// (presence) access: the vCard's PHOTO is published on them as they are.
func TestVCardAvatarOnClientNodes(t *testing.T) {
	ts := startServer(t)
	for _, u := range []string{"alice", "bob"} {
		ts.addUser(t, u, "secret")
	}
	ts.befriend(t, "alice", "bob")
	bob := ts.login(t, "bob", "secret", "b")
	bob.presenceWithCaps(capsInfo(nsAvatarMetadata))
	bob.roundTrip()
	alice := ts.online(t, "alice", "secret", "a")
	alice.send(`<iq type='set' id='a1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:data'><item id='x'><data xmlns='urn:xmpp:avatar:data'>AAAA</data></item></publish></pubsub></iq>`)
	iqReply(alice, "a1")
	alice.send(`<iq type='set' id='a2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='x'><metadata xmlns='urn:xmpp:avatar:metadata'/></item></publish></pubsub></iq>`)
	iqReply(alice, "a2")
	img := []byte("a jpeg, say")
	alice.send(`<iq type='set' id='v'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/jpeg</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard></iq>`, base64.StdEncoding.EncodeToString(img))
	iqReply(alice, "v")
	bob.expect("metadata event for the vCard's photo", func(e *Element) bool {
		return isEvent(nsAvatarMetadata)(e) && strings.Contains(e.String(), avatarID(img))
	})
}
