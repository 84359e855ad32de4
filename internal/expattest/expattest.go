// Package expattest judges XML in tests with expat, the parser Prosody and
// ejabberd read streams with (here through the pyexpat module of Debian's
// /usr/bin/python3, part of python3 itself): an independent parser, written by no one
// here, with namespace processing on, so it rejects what a strict XMPP
// peer rejects — attributes given twice, undeclared prefixes, reserved
// namespace declarations — as well as plain syntax errors.
package expattest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

const script = `
import base64, json, sys
import xml.parsers.expat as expat
out = []
for item in json.load(sys.stdin):
    p = expat.ParserCreate(namespace_separator=' ')
    try:
        p.Parse(base64.b64decode(item['data']), item['final'])
        out.append('')
    except expat.ExpatError as e:
        out.append(str(e) or 'error')
json.dump(out, sys.stdout)
`

// Document is XML for Parse: a whole document (Final), or the start of one
// that may go on, such as the bytes a client has read from an XMPP stream
// so far.
type Document struct {
	Data  []byte
	Final bool
}

// Parse runs expat over each document and returns, for each, "" if expat
// accepts it or expat's error.
func Parse(t testing.TB, docs ...Document) []string {
	t.Helper()
	// Debian's python3, as the interop tests use: a python3 found
	// elsewhere on PATH (a pyenv shim, say) can take seconds to start.
	py := "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		t.Fatalf("expat is run through %s, which is missing (apt-get install python3): %v", py, err)
	}
	type item struct {
		Data  []byte `json:"data"`
		Final bool   `json:"final"`
	}
	in := make([]item, len(docs))
	for i, d := range docs {
		in[i] = item{Data: d.Data, Final: d.Final}
	}
	req, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 expat: %v: %s", err, stderr.Bytes())
	}
	var out []string
	if err := json.Unmarshal(res, &out); err != nil || len(out) != len(docs) {
		t.Fatalf("python3 expat answered %q (%v)", res, err)
	}
	return out
}

// Stream wraps stanzas (bytes sent after an XMPP stream header) in a c2s
// stream header, so that expat reads them in the namespace context a
// client reads them in. The result is not Final: the stream goes on.
func Stream(stanzas []byte) Document {
	head := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`
	return Document{Data: append([]byte(head), stanzas...)}
}
