package main

import (
	"bufio"
	"encoding/xml"
	"strings"
	"testing"
)

// roomMessage is a post as Parley delivers it to an occupant (XEP-0045
// with XEP-0359 ids and the bench's timestamped body).
const roomMessage = `<message to="bench17@localhost/pb" from="bench-room-3@conference.localhost/bench61" type="groupchat" id="pb61-1042" xml:lang="en">` +
	`<body>pb bench-room-3 61 1042 1764745505123456789 0</body>` +
	`<stanza-id xmlns="urn:xmpp:sid:0" id="0jK2m1Hq9cXy" by="bench-room-3@conference.localhost"/>` +
	`<origin-id xmlns="urn:xmpp:sid:0" id="pb61-1042"/></message>`

// BenchmarkClientNext reads room posts off a stream as a bench session
// does: the bench's own CPU per delivery.
func BenchmarkClientNext(b *testing.B) {
	const perStream = 1000
	stream := `<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">` + strings.Repeat(roomMessage, perStream)
	var c Client
	n := perStream
	for b.Loop() {
		if n == perStream {
			c.br = bufio.NewReader(strings.NewReader(stream))
			c.dec = xml.NewDecoder(c.br)
			tok, err := c.dec.Token()
			if err != nil {
				b.Fatal(err)
			}
			c.stanzas = newStanzaReader(c.br, tok.(xml.StartElement))
			n = 0
		}
		e, err := c.Next()
		if err != nil {
			b.Fatal(err)
		}
		if e.child("jabber:client", "body") == nil || e.attr("from") == "" {
			b.Fatalf("parsed %+v", e)
		}
		n++
	}
}
