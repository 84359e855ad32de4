package main

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// readerTestStream holds what servers send a bench session, and the XML
// corners a server may use: prefixes declared on the stream and inside
// stanzas, entities and character references in text and attributes,
// CDATA, comments, xml:lang, nested default namespaces, long text.
var readerTestStream = `<?xml version='1.0'?><stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" id="s1" from="localhost" version="1.0" xml:lang="en">` +
	`<stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism></mechanisms><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>` +
	"\n \t" + roomMessage + " " +
	`<presence from='room@conference.localhost/al&apos;ice' to="bench1@localhost/r"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant" jid="a@b/c"/><status code="110"/></x><occupant-id xmlns="urn:xmpp:occupant-id:0" id="x+y/z="/></presence>` +
	`<message type="groupchat" from="r@c/n"><body>a &lt;b&gt; &amp; c &#x41;&#66; &quot;q&quot; é ✓</body><!-- a comment --><subject><![CDATA[<raw> & stuff]]></subject><p:x xmlns:p="urn:example:p" p:attr="v" plain="w"><p:y>in y</p:y>tail</p:x><z xmlns="">no namespace</z></message>` +
	`<iq type="get" id="ping1" from="localhost"><ping xmlns="urn:xmpp:ping"/></iq>` +
	`<message from="r@c/n"><body>` + strings.Repeat("long body text ", 1000) + `</body>text<b>mixed</b>more</message>` +
	`<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/><text xmlns="urn:ietf:params:xml:ns:xmpp-streams" xml:lang="en">Replaced by new connection</text></stream:error>` +
	`</stream:stream>`

// The stanza reader builds the same elements as encoding/xml's
// DecodeElement into element (what the bench used before), and ends
// where the stream does.
func TestStanzaReaderMatchesEncodingXML(t *testing.T) {
	open := func() (*bufio.Reader, *xml.Decoder, xml.StartElement) {
		br := bufio.NewReaderSize(strings.NewReader(readerTestStream), 512) // small: values span buffer fills
		dec := xml.NewDecoder(br)
		for {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			if start, ok := tok.(xml.StartElement); ok {
				return br, dec, start
			}
		}
	}
	_, dec, _ := open()
	var want []element
	for {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tok.(xml.EndElement); ok {
			break
		}
		if start, ok := tok.(xml.StartElement); ok {
			var e element
			if err := dec.DecodeElement(&e, &start); err != nil {
				t.Fatal(err)
			}
			want = append(want, e)
		}
	}
	br, _, start := open()
	r := newStanzaReader(br, start)
	for i, w := range want {
		got, err := r.next()
		if err != nil {
			t.Fatalf("element %d (<%s>): %v", i, w.XMLName.Local, err)
		}
		if !reflect.DeepEqual(*got, normalize(w)) {
			t.Errorf("element %d:\n got %+v\nwant %+v", i, *got, normalize(w))
		}
	}
	if _, err := r.next(); !errors.Is(err, errStreamClosed) {
		t.Errorf("after the last element: %v, want errStreamClosed", err)
	}
}

// normalize makes DecodeElement's empty slices nil, as the reader leaves
// them.
func normalize(e element) element {
	if len(e.Attr) == 0 {
		e.Attr = nil
	}
	if len(e.Children) == 0 {
		e.Children = nil
	}
	for i := range e.Children {
		e.Children[i] = normalize(e.Children[i])
	}
	return e
}

// A stream cut off inside a stanza is an error, not a stanza.
func TestStanzaReaderTruncated(t *testing.T) {
	header := `<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">`
	for _, cut := range []string{`<message to="a`, `<message to="a"><body>hi`, `<message><body>hi</body`, `<message><!-- open`} {
		br := bufio.NewReader(strings.NewReader(header + cut))
		dec := xml.NewDecoder(br)
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		r := newStanzaReader(br, tok.(xml.StartElement))
		if e, err := r.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: got %+v, %v; want io.ErrUnexpectedEOF", cut, e, err)
		}
	}
}
