package xmpp

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/parleychat/parley/interop"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/storage"
)

// forbiddenChars holds characters XML 1.0 §2.2 does not allow in a
// document (C0 controls but tab, LF and CR; U+FFFE and U+FFFF) between
// ordinary text; forbidden adds a surrogate, here as the bytes UTF-8 would
// give it, and a byte that is not UTF-8 (which storage refuses, so only
// 1:1 messages and serialising see them).
const (
	forbiddenChars = "nul\x00 bell\x07 esc\x1b[31m us\x1f fffe\uFFFE ffff\uFFFF end"
	forbidden      = forbiddenChars + " lone\xed\xa0\x80 bad\xff"
)

// forbiddenCharsAsSent and forbiddenAsSent are them as a stream carries
// them: each forbidden character, and each byte that is not UTF-8,
// replaced with U+FFFD.
const (
	forbiddenCharsAsSent = "nul\uFFFD bell\uFFFD esc\uFFFD[31m us\uFFFD fffe\uFFFD ffff\uFFFD end"
	forbiddenAsSent      = forbiddenCharsAsSent + " lone\uFFFD\uFFFD\uFFFD bad\uFFFD"
)

// Serialising never writes a character XML forbids, in character data or
// in an attribute: what any front door let through cannot end a
// recipient's stream.
func TestSerialisedElementsAreXML(t *testing.T) {
	el := NewElement(nsClient, "message", "to", "a@localhost/"+forbidden, "type", "chat")
	el.Append(NewElement(nsClient, "body").AppendText(forbidden + "\r\n\ttabbed <&>"))
	out := el.Bytes()
	d := xml.NewDecoder(bytes.NewReader(out))
	d.DefaultSpace = nsClient
	var got *Element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the serialised element is not XML: %v\n%q", err, out)
		}
		if start, ok := tok.(xml.StartElement); ok {
			if got, err = readElement(d, start, streamScope); err != nil {
				t.Fatalf("the serialised element is not XML: %v\n%q", err, out)
			}
		}
	}
	if got == nil {
		t.Fatalf("no element in %q", out)
	}
	if to := got.AttrValue("to"); to != "a@localhost/"+forbiddenAsSent {
		t.Errorf("to = %q, want %q", to, "a@localhost/"+forbiddenAsSent)
	}
	if body := got.Child(nsClient, "body").Text(); body != forbiddenAsSent+"\r\n\ttabbed <&>" {
		t.Errorf("body = %q, want %q", body, forbiddenAsSent+"\r\n\ttabbed <&>")
	}
}

type discardSink struct{}

func (discardSink) Deliver(muc.Event) {}

// A post, a subject and a 1:1 message carrying characters XML forbids (as
// an engine occupant on another front door, or an old archive row, could
// hold them) reach an XMPP client over a real socket as well-formed XML,
// the characters replaced: the client's decoder (encoding/xml, which
// rejects them) reads every stanza.
func TestForbiddenCharactersNeverReachTheStream(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "crone", "secret")
	// Participants may set the subject here (mallory is one).
	if _, err := ts.srv.cfg.Rooms.CreateRoom(context.Background(), muc.CreateRoomRequest{
		Room: storage.Room{Name: "coven", ChangeSubject: "participants"}, Creator: muc.ActorAdmin, Privacy: muc.Open}); err != nil {
		t.Fatal(err)
	}
	crone := ts.online(t, "crone", "secret", "desktop")
	join(t, crone, room, "firstwitch", "")

	ctx := context.Background()
	engine := ts.srv.cfg.Rooms
	other := "mallory@localhost"
	if err := engine.Join(ctx, muc.JoinRequest{Room: "coven", Nick: "mallory", User: other,
		Session: muc.Session{Address: "sip:mallory@localhost", FrontDoor: "sip", Sink: discardSink{}}}); err != nil {
		t.Fatal(err)
	}
	crone.expect("mallory's presence", isPresenceFrom(room+"/mallory"))
	if _, err := engine.Post(ctx, muc.PostRequest{Room: "coven", Address: "sip:mallory@localhost", FrontDoor: "sip", Body: forbiddenChars}); err != nil {
		t.Fatal(err)
	}
	crone.expect("the post, its characters replaced", isMessageWithBody(forbiddenCharsAsSent))

	if err := engine.SetSubject(ctx, "coven", "sip:mallory@localhost", forbiddenChars, nil); err != nil {
		t.Fatal(err)
	}
	subj := crone.expect("the subject", func(e *Element) bool { return e.Child(nsClient, "subject") != nil })
	if got := subj.Child(nsClient, "subject").Text(); got != forbiddenCharsAsSent {
		t.Errorf("subject %q, want %q", got, forbiddenCharsAsSent)
	}

	// Through MAM too: the archived post is re-serialised.
	crone.send(`<iq type='set' id='mam1' to='%s'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>`, room)
	crone.expect("the archived post", func(e *Element) bool {
		return strings.Contains(e.String(), forbiddenCharsAsSent)
	})
	crone.expect("MAM end", func(e *Element) bool { return e.AttrValue("id") == "mam1" })

	from := jid.MustParse("mallory@localhost")
	to := jid.MustParse("crone@localhost")
	if ok, err := ts.srv.Deliver(ctx, interop.Message{From: from, To: to, Type: "chat", ID: "x1",
		Body: forbidden, Subject: forbidden, Thread: forbidden}); !ok || err != nil {
		t.Fatalf("Deliver: %v %v", ok, err)
	}
	msg := crone.expect("the 1:1 message", isMessageWithBody(forbiddenAsSent))
	if s, th := msg.Child(nsClient, "subject").Text(), msg.Child(nsClient, "thread").Text(); s != forbiddenAsSent || th != forbiddenAsSent {
		t.Errorf("subject %q and thread %q, want both %q", s, th, forbiddenAsSent)
	}
}
