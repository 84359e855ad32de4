package wellformed

import (
	"bytes"
	"encoding/xml"
	"testing"

	"github.com/parleychat/parley/internal/expattest"
)

const nsStreams = "http://etherx.jabber.org/streams"

func streamScope() *Scope { return NewScope("jabber:client", "stream", nsStreams) }

// cases are stanzas as a client might send them on a stream, and whether
// they are (namespace-)well-formed there.
var cases = []struct {
	xml string
	ok  bool
}{
	{`<message to="bob@localhost"><body>hi</body></message>`, true},
	{`<message from="a@localhost/x" from="b@localhost/y"><body>hi</body></message>`, false},
	{`<message><body xml:lang="en" xml:lang="de">hi</body></message>`, false},
	{`<message><x xmlns="urn:a" xmlns:p="urn:b" xmlns:q="urn:b" p:k="1" q:k="2"/></message>`, false},
	{`<message><x xmlns="urn:a" xmlns:p="urn:b" p:k="1" k="2"/></message>`, true},
	{`<message><x xmlns="urn:a" xmlns="urn:b"/></message>`, false},
	{`<message><x xmlns:p="urn:a" xmlns:p="urn:b"/></message>`, false},
	{`<message><p:x/></message>`, false},
	{`<message><x p:a="1"/></message>`, false},
	{`<message><xmlns:x/></message>`, false},
	{`<message><x xmlns:p=""/></message>`, false},
	{`<message><x xmlns=""/></message>`, true},
	{`<message><x xmlns="http://www.w3.org/XML/1998/namespace"/></message>`, false},
	{`<message><x xmlns:p="http://www.w3.org/XML/1998/namespace"/></message>`, false},
	{`<message><x xmlns:xml="http://www.w3.org/XML/1998/namespace"/></message>`, true},
	{`<message><x xmlns:xml="urn:a"/></message>`, false},
	{`<message><x xmlns:xmlns="urn:a"/></message>`, false},
	{`<message><x xmlns:p="http://www.w3.org/2000/xmlns/"/></message>`, false},
	{`<message><xml:x/></message>`, true},
	{`<message><stream:error/></message>`, true},
	{`<message><x xmlns:p="urn:a" p:xmlns="1"/></message>`, true},
	{`<message><a:/></message>`, false},
	{`<message><body>]]></body></message>`, false},
	{`<message><body>&#1;</body></message>`, false},
	{"<message><body>\x01</body></message>", false},
	{"<message><body>\xff</body></message>", false},
	{`<message><body>caf&#xE9; &#x1F600;</body></message>`, true},
	{`<message/><message/>`, false},
	{`text<message/>`, false},
}

func TestCheck(t *testing.T) {
	for _, c := range cases {
		err := Check([]byte(c.xml), streamScope())
		if (err == nil) != c.ok {
			t.Errorf("Check(%s) = %v, want ok=%v", c.xml, err, c.ok)
		}
	}
}

// TestCheckAgreesWithExpat: the cases' verdicts are expat's, so Check
// refuses what Prosody and ejabberd refuse.
func TestCheckAgreesWithExpat(t *testing.T) {
	var docs []expattest.Document
	for _, c := range cases {
		doc := `<w xmlns='jabber:client' xmlns:stream='` + nsStreams + `'>` + c.xml + `</w>`
		docs = append(docs, expattest.Document{Data: []byte(doc), Final: true})
	}
	for i, verdict := range expattest.Parse(t, docs...) {
		c := cases[i]
		if c.xml == `<message/><message/>` || c.xml == `text<message/>` {
			continue // well-formed inside the wrapper; Check wants one element
		}
		if (verdict == "") != c.ok {
			t.Errorf("expat on %s: %q, the case says ok=%v", c.xml, verdict, c.ok)
		}
	}
}

func TestEnterReportsDuplicatesAtEveryDepth(t *testing.T) {
	in := `<message><a><b><c xml:lang="en" xml:lang="en"/></b></a></message>`
	d := xml.NewDecoder(bytes.NewReader([]byte(in)))
	d.Strict = true
	scope := streamScope()
	var err error
	for err == nil {
		tok, terr := d.Token()
		if terr != nil {
			t.Fatalf("decoder: %v", terr)
		}
		if start, ok := tok.(xml.StartElement); ok {
			scope, err = scope.Enter(start)
		}
	}
	if want := "not well-formed: attribute {" + XMLNamespace + "}lang given twice"; err.Error() != want {
		t.Errorf("Enter: %v, want %s", err, want)
	}
}

func TestRepair(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// Unchanged when well-formed.
		{`<message id="1"><body>hi &amp; bye</body></message>`, `<message id="1"><body>hi &amp; bye</body></message>`},
		// The first of a repeated attribute stays, the rest of the
		// bytes as they were.
		{`<message type="groupchat" id="x"><body xml:lang="en" xml:lang='de'>hi</body><x xmlns='urn:a'  k="1"/></message>`,
			`<message type="groupchat" id="x"><body xml:lang="en">hi</body><x xmlns='urn:a'  k="1"/></message>`},
		{`<message from="a" to="b" from="c"/>`, `<message from="a" to="b"/>`},
		{`<message><x xmlns:ns1="urn:b" ns1:k="1" xmlns:ns2="urn:b" ns2:k="&quot;2"/></message>`,
			`<message><x xmlns:ns1="urn:b" ns1:k="1" xmlns:ns2="urn:b"/></message>`},
		// Characters XML does not allow become U+FFFD.
		{"<message><body>a\x01b\xffc</body></message>", "<message><body>a\uFFFDb\uFFFDc</body></message>"},
	} {
		got, err := Repair([]byte(c.in), streamScope())
		if err != nil || string(got) != c.want {
			t.Errorf("Repair(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`<message><p:x/></message>`, `<message><body>&#1;</body></message>`, `<message>`, ``} {
		if got, err := Repair([]byte(bad), streamScope()); err == nil {
			t.Errorf("Repair(%s) = %s, want an error", bad, got)
		}
	}
}
