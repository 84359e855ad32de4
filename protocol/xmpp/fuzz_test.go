package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parleychat/parley/internal/expattest"
	"github.com/parleychat/parley/internal/wellformed"
)

// fuzzHeader opens the stream every FuzzStreamParser input is read on, as
// a client's header would.
const fuzzHeader = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`

// readStanzas reads top-level elements after fuzzHeader the way the
// server's stanza loop does, until the end of data or the first it refuses
// (at most 100). err is nil when data ended cleanly between stanzas.
func readStanzas(data []byte) (out []*Element, err error) {
	in := append(append([]byte(fuzzHeader), data...), "</stream:stream>"...)
	br := newBudgetReader(bytes.NewReader(in), 4096)
	d := newDecoder(br)
	tok, err := nextToken(d, br)
	if err != nil {
		return nil, err
	}
	scope, err := (*wellformed.Scope)(nil).Enter(tok.(xml.StartElement))
	if err != nil {
		panic(err) // fuzzHeader is well-formed
	}
	for range 100 {
		tok, err := nextToken(d, br)
		if err != nil {
			return out, err
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			if d.InputOffset() != int64(len(in)) {
				return out, errors.New("the stream ended early")
			}
			return out, nil
		}
		el, err := readElement(d, start, scope)
		if err != nil {
			return out, err
		}
		out = append(out, el)
	}
	return out, errors.New("more than 100 stanzas")
}

// relayedForms are the forms in which a stanza the server accepted leaves
// it: routed with the sender's from (RFC 6120 §8.1.2.1), archived without
// from and to (muc_message.go), and read back from the archive for history
// and MAM (parseStored).
func relayedForms(t *testing.T, el *Element) [][]byte {
	routed := el.Copy()
	routed.SetAttr("from", "alice@localhost/fuzz")
	archived := el.Copy()
	archived.SetAttr("from", "")
	archived.SetAttr("to", "")
	stored := archived.Bytes()
	back := parseStored(stored)
	if back == nil {
		t.Fatalf("cannot read back the archived form %q of %q", stored, el)
	}
	if again := back.Bytes(); !bytes.Equal(again, stored) {
		t.Fatalf("archive round trip changed the stanza:\n%q\n%q", stored, again)
	}
	return [][]byte{el.Bytes(), routed.Bytes(), stored}
}

// FuzzStreamParser feeds arbitrary bytes, after a stream header, to the
// reader the server uses between and inside stanzas. It must never panic,
// and every form in which an accepted stanza is routed, archived or
// replayed must be well-formed and namespace-well-formed XML on a
// client's stream: what the server relays can never break a recipient's
// stream. The committed corpus (testdata/fuzz/FuzzStreamParser) runs with
// every go test; `go test -fuzz FuzzStreamParser` explores further.
func FuzzStreamParser(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		els, _ := readStanzas(data)
		for _, el := range els {
			for _, out := range relayedForms(t, el) {
				if err := wellformed.Check(out, streamScope); err != nil {
					t.Fatalf("the server would send %q (from %q): %v", out, data, err)
				}
			}
		}
	})
}

// FuzzElementWriter builds stanzas the way the front doors do, from
// strings they were given (a SIP body, a nick, a subject), and holds the
// writer to its promise: whatever the strings hold, the output is
// well-formed.
func FuzzElementWriter(f *testing.F) {
	f.Add("hello", "en", "urn:a", "Alice")
	f.Add("bell \a and nul \x00 and ]]> end", "\xff", "", "\ufffe")
	f.Add("surrogate \xed\xa0\x80 cr \r lf \n", "a\"b'c<d>&e", wellformed.XMLNamespace, "x\ty")
	f.Fuzz(func(t *testing.T, text, attr, space, nick string) {
		if space == wellformed.XMLNSNamespace {
			return // no element can be in it (Namespaces in XML §3)
		}
		msg := NewElement(nsClient, "message", "type", "groupchat", "from", "room@conference.localhost/"+nick)
		body := NewElement(nsClient, "body").AppendText(text)
		body.Attr = append(body.Attr, xmlLang(attr), xmlLang("again"))
		x := NewElement(space, "x", "k", attr)
		x.Attr = append(x.Attr, xml.Attr{Name: xml.Name{Space: space, Local: "k"}, Value: text},
			xml.Attr{Name: xml.Name{Space: space, Local: "k"}, Value: nick})
		x.Append(NewElement(nsStreams, "error").AppendText(nick))
		msg.Append(body, x)
		msg.SetAttr("from", "again")
		out := msg.Bytes()
		if err := wellformed.Check(out, streamScope); err != nil {
			t.Fatalf("wrote %q: %v", out, err)
		}
	})
}

// corpus returns the inputs committed under testdata/fuzz/name.
func corpus(t *testing.T, name string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no committed corpus for %s (%v)", name, err)
	}
	var out [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")")
		s, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s is not a one-[]byte corpus file", file)
		}
		out = append(out, []byte(s))
	}
	return out
}

// TestStreamParserAgreesWithExpat runs the committed corpus through expat,
// the parser Prosody and ejabberd use: every stanza expat refuses, the
// server refuses too, and everything the server would send from the
// stanzas it accepts, expat accepts.
func TestStreamParserAgreesWithExpat(t *testing.T) {
	inputs := corpus(t, "FuzzStreamParser")
	var docs []expattest.Document
	var sent [][]byte
	refused := make([]bool, len(inputs))
	for i, in := range inputs {
		docs = append(docs, expattest.Document{Data: append([]byte(fuzzHeader), in...)})
		els, err := readStanzas(in)
		refused[i] = err != nil
		for _, el := range els {
			sent = append(sent, relayedForms(t, el)...)
		}
	}
	for _, out := range sent {
		docs = append(docs, expattest.Stream(out))
	}
	verdicts := expattest.Parse(t, docs...)
	for i, in := range inputs {
		if verdicts[i] != "" && !refused[i] {
			t.Errorf("expat refuses %q (%s); the server accepted it", in, verdicts[i])
		}
	}
	for i, out := range sent {
		if v := verdicts[len(inputs)+i]; v != "" {
			t.Errorf("expat refuses what the server would send: %q: %s", out, v)
		}
	}
}
