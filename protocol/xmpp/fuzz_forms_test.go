package xmpp

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
)

// FuzzDataForm feeds arbitrary XML, read as the server reads a stanza, to
// the XEP-0004 form reading every feature uses (formValues) and to the
// room configuration form (applyConfig, XEP-0045 §10.2): neither may
// panic, every value read is the text of a <value/> of its field, and a
// configuration that is accepted leaves the room with the settings the
// store takes.
func FuzzDataForm(f *testing.F) {
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
		`<field var='muc#roomconfig_membersonly'><value>1</value></field><field var='muc#roomconfig_maxusers'><value>none</value></field></x>`)
	f.Add(`<x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomname'><value>a</value><value>b</value></field><field/><field var=''/></x>`)
	f.Add(`<x xmlns='jabber:x:data'><field var='muc#roomconfig_whois'><value>anyone</value></field><field var='muc#roomconfig_allowpm'><value>nobody</value></field></x>`)
	f.Fuzz(func(t *testing.T, data string) {
		els, _ := readStanzas([]byte(data))
		for _, x := range els {
			values := formValues(x)
			for v, vals := range values {
				n := 0
				for _, fl := range x.Elements() {
					if fl.Name.Local == "field" && fl.AttrValue("var") == v {
						n = 0
						for _, val := range fl.Elements() {
							if val.Name.Local == "value" {
								n++
							}
						}
					}
				}
				if n != len(vals) {
					t.Fatalf("field %q: %d values read, %d in the form %s", v, len(vals), n, x)
				}
			}
			r := storage.Room{Name: "fuzz", WhoIs: "moderators", ChangeSubject: "moderators", AllowPM: "anyone"}
			if _, err := applyConfig(&r, values); err == nil && r.MaxUsers < 0 {
				t.Fatalf("accepted a negative occupant limit from %s", x)
			}
		}
	})
}

// FuzzSASL feeds arbitrary initial responses and SCRAM messages to the
// SASL code a stream runs before authentication: base64 decoding
// (decodeSASL), PLAIN (authPlain), and a SCRAM-SHA-256 server
// conversation over the stored credentials, as authScram holds it. None
// may panic, and none may let in anyone who does not know the password.
func FuzzSASL(f *testing.F) {
	f.Add("AGFsaWNlAHNlY3JldA==", "n,,n=alice,r=abc", "c=biws,r=abcdef,p=AAAA")
	f.Add("=", "y,,n=alice,r=", "c=,r=,p=")
	f.Add("not base64", "p=tls-exporter,,n=al=2Cice,r=x", "")
	ts := startServer(f)
	ts.addUser(f, "alice", "secret")
	srv := ts.srv
	f.Fuzz(func(t *testing.T, b64, first, final string) {
		ctx := context.Background()
		if msg, err := decodeSASL(b64); err == nil {
			if user, err := srv.authPlain(ctx, msg); err == nil && !strings.HasSuffix(string(msg), "\x00secret") {
				t.Fatalf("PLAIN %q let %s in", msg, user)
			}
		}
		if user, err := srv.authPlain(ctx, []byte(first)); err == nil && !strings.HasSuffix(first, "\x00secret") {
			t.Fatalf("PLAIN %q let %s in", first, user)
		}
		s, err := scram.SHA256.NewServer(func(name string) (scram.StoredCredentials, error) {
			cred, err := srv.cfg.Store.ScramCredential(ctx, name, auth.ScramSHA256)
			if err != nil {
				return scram.StoredCredentials{}, err
			}
			return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(cred.Salt), Iters: cred.Iterations},
				StoredKey: cred.StoredKey, ServerKey: cred.ServerKey}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		conv := s.NewConversation()
		if _, err := conv.Step(first); err != nil {
			return
		}
		if _, err := conv.Step(final); err == nil && conv.Valid() {
			t.Fatalf("SCRAM let %q in with %q", first, base64.StdEncoding.EncodeToString([]byte(final)))
		}
	})
}
