package xmpp

import (
	"fmt"
	"strings"
	"testing"
)

// submitConfig sends a muc#roomconfig form with fields (var → value) and
// returns the reply to it and the messages that came before it.
func submitConfig(t *testing.T, c *testClient, roomJID, id string, fields [][2]string) (*Element, []*Element) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`)
	for _, f := range fields {
		fmt.Fprintf(&b, `<field var='%s'><value>%s</value></field>`, f[0], f[1])
	}
	c.send(`<iq type='set' id='%s' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>%s</x></query></iq>`, id, roomJID, b.String())
	var before []*Element
	reply := c.expect("reply to "+id, func(e *Element) bool {
		if e.AttrValue("id") == id && e.Name.Local == "iq" {
			return true
		}
		if e.Name.Local == "message" {
			before = append(before, e)
		}
		return false
	})
	return reply, before
}

// XEP-0045 §10.2 forms as mainstream clients submit them by default: each
// is accepted (never not-acceptable), what the room cannot do is said in a
// note from the room, and the room works afterwards.
func TestMUCConfigFormsClientsSend(t *testing.T) {
	ts := startServer(t)
	ts.addUser(t, "crone", "secret")
	ts.addUser(t, "wiccarocks", "secret")
	crone := ts.online(t, "crone", "secret", "desktop")

	for i, tc := range []struct {
		client string
		fields [][2]string
		note   string            // a word the note must have; "" for no note
		want   map[string]string // fields of the form afterwards
	}{
		{"slixmpp itests (test_muc, test_moderate): persistentroom=0", [][2]string{
			{"muc#roomconfig_persistentroom", "0"}, {"muc#roomconfig_membersonly", "1"}, {"muc#roomconfig_publicroom", "1"},
			{"muc#roomconfig_whois", "moderators"}, {"muc#roomconfig_maxusers", "0"}, {"muc#roomconfig_allowpm", "anyone"},
		}, "persistent", map[string]string{"muc#roomconfig_membersonly": "1", "muc#roomconfig_whois": "moderators"}},
		{"Conversations, private group chat", [][2]string{
			{"muc#roomconfig_persistentroom", "1"}, {"muc#roomconfig_membersonly", "1"}, {"muc#roomconfig_publicroom", "0"},
			{"muc#roomconfig_whois", "anyone"}, {"muc#roomconfig_changesubject", "0"}, {"muc#roomconfig_allowinvites", "0"},
			{"muc#roomconfig_enablearchiving", "1"}, {"mam", "1"}, {"muc#roomconfig_allowpm", "moderators"},
		}, "", map[string]string{"muc#roomconfig_whois": "anyone", "muc#roomconfig_allowpm": "moderators", "muc#roomconfig_membersonly": "1"}},
		{"Gajim with archiving off and Prosody fields", [][2]string{
			{"muc#roomconfig_persistentroom", "true"}, {"muc#roomconfig_membersonly", "false"},
			{"muc#roomconfig_enablelogging", "false"}, {"{http://prosody.im/protocol/muc}roomconfig_allowmemberinvites", "1"},
			{"muc#roomconfig_presencebroadcast", "moderator"}, {"muc#roomconfig_lang", "en"}, {"muc#roomconfig_historylength", "20"},
		}, "history", map[string]string{"muc#roomconfig_membersonly": "0", "muc#roomconfig_presencebroadcast": "moderator"}},
		{"ejabberd-style maxusers none, Dino's defaults", [][2]string{
			{"muc#roomconfig_maxusers", "none"}, {"muc#roomconfig_persistentroom", "1"}, {"muc#roomconfig_whois", "anyone"},
			{"muc#roomconfig_membersonly", "0"}, {"muc#roomconfig_roomowners", "crone@localhost"}, {"muc#roomconfig_roomsecret", ""},
			{"muc#roomconfig_passwordprotectedroom", "0"},
		}, "", map[string]string{"muc#roomconfig_maxusers": "0", "muc#roomconfig_whois": "anyone"}},
	} {
		t.Run(tc.client, func(t *testing.T) {
			roomJID := fmt.Sprintf("cfg%d@conference.localhost", i)
			join(t, crone, roomJID, "firstwitch", "")
			reply, before := submitConfig(t, crone, roomJID, fmt.Sprintf("c%d", i), tc.fields)
			if reply.AttrValue("type") != "result" {
				t.Fatalf("%s: the form was refused: %s", tc.client, reply)
			}
			var notes []string
			for _, m := range before {
				if b := m.Child(nsClient, "body"); b != nil && m.AttrValue("from") == roomJID && m.AttrValue("type") == "groupchat" {
					notes = append(notes, b.Text())
				}
			}
			switch {
			case tc.note == "" && len(notes) > 0:
				t.Errorf("unexpected note: %q", notes)
			case tc.note != "" && (len(notes) != 1 || !strings.Contains(notes[0], tc.note)):
				t.Errorf("notes %q, want one saying %q", notes, tc.note)
			}
			crone.send(`<iq type='get' id='g%d' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`, i, roomJID)
			form := crone.expect("config form", func(e *Element) bool { return e.AttrValue("id") == fmt.Sprintf("g%d", i) })
			values := formValues(form.Child(nsMUCOwner, "query").Child(nsDataForms, "x"))
			tc.want["muc#roomconfig_persistentroom"] = "1"
			for field, want := range tc.want {
				if got, _ := first(values, field); got != want {
					t.Errorf("%s is %q after the form, want %q", field, got, want)
				}
			}
			// The room works: a post is reflected.
			crone.send(`<message to='%s' type='groupchat' id='p%d'><body>still here %d</body></message>`, roomJID, i, i)
			crone.expect("reflection", isMessageWithBody(fmt.Sprintf("still here %d", i)))
		})
	}

	// The whole form sent back as it came (what Gajim, Dino and Converse.js
	// do when the user only presses OK) is accepted.
	roomJID := "roundtrip@conference.localhost"
	join(t, crone, roomJID, "firstwitch", "")
	crone.send(`<iq type='get' id='rt0' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`, roomJID)
	form := crone.expect("config form", func(e *Element) bool { return e.AttrValue("id") == "rt0" })
	var fields [][2]string
	for _, f := range form.Child(nsMUCOwner, "query").Child(nsDataForms, "x").Elements() {
		if f.Name.Local != "field" || f.AttrValue("var") == "FORM_TYPE" {
			continue
		}
		v := ""
		if val := f.Child(nsDataForms, "value"); val != nil {
			v = val.Text()
		}
		fields = append(fields, [2]string{f.AttrValue("var"), v})
	}
	if reply, _ := submitConfig(t, crone, roomJID, "rt1", fields); reply.AttrValue("type") != "result" {
		t.Fatalf("the form sent back unchanged was refused: %s", reply)
	}

	// Still refused: a value that is no boolean, an unknown whois.
	for i, bad := range [][2]string{{"muc#roomconfig_membersonly", "perhaps"}, {"muc#roomconfig_whois", "everyone"}, {"muc#roomconfig_maxusers", "-3"}} {
		reply, _ := submitConfig(t, crone, roomJID, fmt.Sprintf("bad%d", i), [][2]string{bad})
		if reply.AttrValue("type") != "error" || !strings.Contains(reply.String(), "bad-request") {
			t.Errorf("%s=%s: %s, want bad-request", bad[0], bad[1], reply)
		}
	}
}
