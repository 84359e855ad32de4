package xmpp

import (
	"bytes"
	"encoding/xml"
	"testing"
)

// readStanza reads one top-level element the way the server's stanza loop
// does, or reports why it cannot.
func readStanza(d *xml.Decoder, br *budgetReader) (*Element, bool) {
	tok, err := nextToken(d, br)
	if err != nil {
		return nil, false
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil, false
	}
	el, err := readElement(d, start)
	return el, err == nil
}

// FuzzStreamParser feeds arbitrary bytes to the reader the server uses
// between and inside stanzas. It must never panic, and every element it
// accepts must serialise to XML that parses back to the same
// serialisation (what the server routes is what it received).
func FuzzStreamParser(f *testing.F) {
	f.Add([]byte(`<message to='bob@localhost' type='chat'><body>hi &amp; bye</body></message>`))
	f.Add([]byte(`<iq type='get' id='1'><query xmlns='jabber:iq:roster' ver='3'/></iq> <presence/>`))
	f.Add([]byte(`<message><x xmlns='urn:a' xmlns:p='urn:b' p:attr='v' xml:lang='en'>t<y/>u</x></message>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "aaaa">]><message>&a;</message>`))
	f.Add([]byte(`<!-- c --><?pi x?><message/>`))
	f.Add([]byte(`<a><b><c><d><e><f>&#x1F600;</f></e></d></c></b></a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := newBudgetReader(bytes.NewReader(data), 4096)
		d := newDecoder(br)
		for range 100 {
			el, ok := readStanza(d, br)
			if !ok {
				return
			}
			out := el.Bytes()
			br2 := newBudgetReader(bytes.NewReader(out), int64(len(out))+1)
			el2, ok := readStanza(newDecoder(br2), br2)
			if !ok {
				t.Fatalf("cannot re-read our own serialisation %q of %q", out, data)
			}
			if again := el2.Bytes(); !bytes.Equal(again, out) {
				t.Fatalf("round trip changed the element:\n%q\n%q", out, again)
			}
		}
	})
}
