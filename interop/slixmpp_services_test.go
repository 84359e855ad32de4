package interop

import "testing"

// slixmpp's plugins for the server services (xep_0030 with XEP-0128 forms,
// xep_0202, xep_0012, xep_0050 driving XEP-0133, xep_0077) and a room
// configured with persistentroom=0 (xep_0045), against a parleyd with
// --admins, --allow-registration and --contact-address; see
// testdata/services.py for the steps.
func TestSlixmppServerServices(t *testing.T) {
	requireSlixmpp(t)
	binaries(t)
	s := newServer(t, "")
	s.args = append(s.args, "--admins", "admin", "--allow-registration",
		"--contact-address", "admin=mailto:ops@example.com")
	s.start()
	users := []account{{"admin", "adm1n-s3cret"}, {"bob", "b0b-s3cret"}}
	for _, u := range users {
		s.addUser(u.name, u.password)
	}
	s.runScript("services.py", users)
}
