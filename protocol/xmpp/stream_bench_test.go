package xmpp

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

// benchStanza is a typical room post as a client sends it.
const benchStanza = `<message to="coven@conference.localhost" type="groupchat" id="a1b2c3d4"><body>When shall we three meet again, in thunder, lightning, or in rain?</body><origin-id xmlns="urn:xmpp:sid:0" id="0f1e2d3c"/><active xmlns="http://jabber.org/protocol/chatstates"/></message>`

// BenchmarkStreamParse reads stanzas from a stream the way a connection
// does: the budget reader under a strict decoder, the restricted-XML
// checks at stream level, each stanza built into an Element.
func BenchmarkStreamParse(b *testing.B) {
	const perRound = 100
	stream := `<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="localhost" version="1.0">` +
		strings.Repeat(benchStanza, perRound)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchStanza) * perRound))
	for b.Loop() {
		b.StopTimer()
		br := newBudgetReader(strings.NewReader(stream), 1<<16)
		d := newDecoder(br)
		b.StartTimer()
		tok, err := nextToken(d, br) // the stream header
		if err != nil {
			b.Fatal(err)
		}
		_ = tok
		for range perRound {
			tok, err := nextToken(d, br)
			if err != nil {
				b.Fatal(err)
			}
			start, ok := tok.(xml.StartElement)
			if !ok {
				b.Fatalf("token %T", tok)
			}
			if _, err := readElement(d, start, streamScope); err != nil {
				b.Fatal(err)
			}
		}
	}
	// b.N rounds of perRound stanzas: per stanza figures.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRound), "ns/stanza")
}

// BenchmarkStanzaSerialize writes a parsed stanza back out (Element.Bytes),
// as every stanza a session is sent is.
func BenchmarkStanzaSerialize(b *testing.B) {
	el := parseStored([]byte(benchStanza))
	if el == nil {
		b.Fatal("benchStanza does not parse")
	}
	el.SetAttr("from", "coven@conference.localhost/firstwitch")
	b.ReportAllocs()
	b.SetBytes(int64(len(benchStanza)))
	for b.Loop() {
		if out := el.Bytes(); !bytes.HasSuffix(out, []byte("</message>")) {
			b.Fatalf("serialised %q", out)
		}
	}
}
