package interop

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sipFedDomain is the foreign SIP domain sipp plays in
// TestSippFederation.
const sipFedDomain = "sipfed.test"

// TestSippFederation: SIP federation (RFC 3428 between domains) with a
// sipp UAS as the server of sipfed.test, reached by --sip-route. alice (a
// SIP user of parleyd, sipp as UAC) sends carol@sipfed.test a MESSAGE:
// the UAS gets it from sip:alice@DOMAIN and its 200 comes back to alice;
// bob (slixmpp) sends carol@sipfed.test a chat message, which the UAS
// gets from sip:bob@DOMAIN, with no error back to bob.
// Then sipfed.test's server (sipp from 127.0.0.1, in --sip-trusted-peers)
// sends alice a MESSAGE from carol: parleyd takes it without
// authentication (202) and delivers it to alice's registered contact (a
// second UAS) from sip:carol@sipfed.test. The same MESSAGE from 127.0.0.2,
// not trusted, is refused with 403 and never delivered.
func TestSippFederation(t *testing.T) {
	sipp := requireSipp(t)
	requireSlixmpp(t)
	t.Parallel()
	ports := freePorts(t, 2)
	fedPort, contactPort := ports[0], ports[1]
	s := newServer(t, "")
	s.args = append(s.args, "--sip-route", sipFedDomain+"=127.0.0.1:"+strconv.Itoa(fedPort),
		"--sip-trusted-peers", "127.0.0.1")
	s.start()
	alice, bob := addAliceAndBob(s)
	startSippUAS(t, s, sipp, fedPort)
	fedTrace := filepath.Join(s.dir, "uas-"+strconv.Itoa(fedPort)+".msg")

	// Out: alice to carol@sipfed.test.
	s.runSipp(sipp, "sip_message_user.xml", []string{"-au", alice.name, "-ap", alice.password,
		"-auth_uri", "carol@" + sipFedDomain}, "user", alice.name, "domain", domain,
		"to", "carol", "todomain", sipFedDomain, "body", "hello carol over federation")
	got := waitTrace(fedTrace, "hello carol over federation")
	for _, want := range []string{
		`(?m)^MESSAGE sip:carol@` + regexp.QuoteMeta(sipFedDomain) + ` SIP/2.0`,
		`(?m)^From: <sip:alice@` + regexp.QuoteMeta(domain) + `>;tag=`,
		`(?m)^To: <sip:carol@` + regexp.QuoteMeta(sipFedDomain) + `>`,
		`(?m)^hello carol over federation`,
	} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("sipfed.test's server got no MESSAGE matching %s:\n%s", want, tail([]byte(got), 2000))
		}
	}

	// Captured for compliance as a local 1:1 message is.
	var export string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		var err error
		export, err = s.ctl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--user", alice.name+"@"+domain, "--format", "json")
		if err != nil {
			export += err.Error()
		}
		if regexp.MustCompile(`hello carol over federation`).MatchString(export) {
			break
		}
	}
	if !regexp.MustCompile(`carol@`+regexp.QuoteMeta(sipFedDomain)).MatchString(export) || !regexp.MustCompile(`hello carol over federation`).MatchString(export) {
		t.Errorf("compliance export has no message from alice to carol@%s:\n%s", sipFedDomain, export)
	}

	// Out from XMPP: bob (slixmpp) to carol@sipfed.test, no error back.
	s.runScript("sip_im.py", []account{bob}, "--phase", "offline", "--peer", "carol",
		"--peer-domain", sipFedDomain, "--body", "hello carol from xmpp")
	got = waitTrace(fedTrace, "hello carol from xmpp")
	for _, want := range []string{
		`(?m)^From: <sip:bob@` + regexp.QuoteMeta(domain) + `>;tag=`,
		`(?m)^hello carol from xmpp`,
	} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("sipfed.test's server got no MESSAGE from bob matching %s:\n%s", want, tail([]byte(got), 2000))
		}
	}

	// In: carol to alice, from a trusted peer and from an untrusted one.
	s.runSipp(sipp, "sip_register.xml", []string{"-au", alice.name, "-ap", alice.password,
		"-auth_uri", domain, "-p", strconv.Itoa(contactPort)}, "user", alice.name, "domain", domain)
	startSippUAS(t, s, sipp, contactPort)
	contactTrace := filepath.Join(s.dir, "uas-"+strconv.Itoa(contactPort)+".msg")
	s.runSipp(sipp, "sip_message_peer_403.xml", []string{"-i", "127.0.0.2"}, "user", "mallory", "fromdomain", sipFedDomain,
		"to", alice.name, "domain", domain, "body", "spoofed from an untrusted address")
	s.runSipp(sipp, "sip_message_peer_202.xml", nil, "user", "carol", "fromdomain", sipFedDomain,
		"to", alice.name, "domain", domain, "body", "hello alice from sipfed")
	got = waitTrace(contactTrace, "hello alice from sipfed")
	for _, want := range []string{
		`(?m)^MESSAGE sip:`,
		`(?m)^From: <sip:carol@` + regexp.QuoteMeta(sipFedDomain) + `>;tag=`,
		`(?m)^hello alice from sipfed`,
	} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("alice's contact got no MESSAGE matching %s:\n%s", want, tail([]byte(got), 2000))
		}
	}
	if regexp.MustCompile(`untrusted|mallory`).MatchString(got) {
		t.Errorf("alice's contact got the MESSAGE from the untrusted address:\n%s", got)
	}
}

// waitTrace waits until sipp's message trace contains text (or a
// timeout) and returns the trace.
func waitTrace(trace, text string) string {
	deadline := time.Now().Add(baresipWait)
	for {
		raw, _ := os.ReadFile(trace)
		if regexp.MustCompile(regexp.QuoteMeta(text)).Match(raw) || time.Now().After(deadline) {
			return string(raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSippFederationTCP: --sip-route DOMAIN=HOST:PORT;transport=tcp sends
// MESSAGEs to the other domain's server over TCP (RFC 3263 lets a route
// or a NAPTR record say so): sipp as sipfed.test's server listens on TCP
// only, and gets alice's MESSAGE (sent to parleyd over UDP) with a TCP Via;
// alice gets its 200.
func TestSippFederationTCP(t *testing.T) {
	sipp := requireSipp(t)
	t.Parallel()
	fedPort := freePorts(t, 1)[0]
	s := newServer(t, "")
	s.args = append(s.args, "--sip-route", sipFedDomain+"=127.0.0.1:"+strconv.Itoa(fedPort)+";transport=tcp")
	s.start()
	alice, _ := addAliceAndBob(s)
	startSippUASOn(t, s, sipp, fedPort, "t1")
	fedTrace := filepath.Join(s.dir, "uas-"+strconv.Itoa(fedPort)+".msg")
	s.runSipp(sipp, "sip_message_user.xml", []string{"-au", alice.name, "-ap", alice.password,
		"-auth_uri", "carol@" + sipFedDomain}, "user", alice.name, "domain", domain,
		"to", "carol", "todomain", sipFedDomain, "body", "hello carol over tcp")
	got := waitTrace(fedTrace, "hello carol over tcp")
	for _, want := range []string{
		`(?m)^MESSAGE sip:carol@` + regexp.QuoteMeta(sipFedDomain) + ` SIP/2.0`,
		`(?m)^Via: SIP/2.0/TCP `,
		`(?m)^From: <sip:alice@` + regexp.QuoteMeta(domain) + `>;tag=`,
		`(?m)^hello carol over tcp`,
	} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("sipfed.test's TCP server got no MESSAGE matching %s:\n%s", want, tail([]byte(got), 2000))
		}
	}
}

// TestSippFederationRoomPost: a user of another SIP domain posts in a room
// through that domain's server (sipp from 127.0.0.1, in
// --sip-trusted-peers), as a local SIP user posts in pager mode: the post
// is taken (200), archived and captured with carol@sipfed.test as the
// actor, posting through the SIP front door as nick carol (the occupant
// sip:carol@sipfed.test); a room whose category
// is not federated refuses it (403), and so does an untrusted source.
func TestSippFederationRoomPost(t *testing.T) {
	sipp := requireSipp(t)
	t.Parallel()
	s := newServer(t, "")
	s.args = append(s.args, "--sip-trusted-peers", "127.0.0.1")
	s.start()
	s.mustCtl("room", "create", "lobby", "--privacy", "open")
	s.mustCtl("category", "add", "internal", "--federated=false")
	s.mustCtl("room", "create", "staff", "--privacy", "open", "--category", "internal")
	rooms := "conference." + domain
	s.runSipp(sipp, "sip_message_peer_200.xml", nil, "user", "carol", "fromdomain", sipFedDomain,
		"to", "lobby", "domain", rooms, "body", "hello lobby from sipfed")
	s.runSipp(sipp, "sip_message_peer_403.xml", nil, "user", "carol", "fromdomain", sipFedDomain,
		"to", "staff", "domain", rooms, "body", "not for outsiders")
	s.runSipp(sipp, "sip_message_peer_403.xml", []string{"-i", "127.0.0.2"}, "user", "mallory", "fromdomain", sipFedDomain,
		"to", "lobby", "domain", rooms, "body", "from an untrusted address")
	var export string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		export, _ = s.ctl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--room", "lobby", "--format", "json")
		if regexp.MustCompile(`hello lobby from sipfed`).MatchString(export) {
			break
		}
	}
	var post string
	for _, line := range regexp.MustCompile(`(?m)^.*hello lobby from sipfed.*$`).FindAllString(export, -1) {
		post = line
	}
	for _, want := range []string{`"type":"post"`, `"actor":"carol@` + regexp.QuoteMeta(sipFedDomain) + `"`, `"front_door":"sip"`, `"nick":"carol"`} {
		if !regexp.MustCompile(want).MatchString(post) {
			t.Errorf("the lobby's compliance export has no post by carol matching %s:\n%s", want, export)
		}
	}
	if regexp.MustCompile(`untrusted|outsiders`).MatchString(export) {
		t.Errorf("a refused post is in the lobby's export:\n%s", export)
	}
	staff, _ := s.ctl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--room", "staff", "--format", "json")
	if regexp.MustCompile(`outsiders`).MatchString(staff) {
		t.Errorf("the post to a room that is not federated was taken:\n%s", staff)
	}
}

// TestSippFederationRoomOccupant: a user of another SIP domain is a room
// occupant like a local SIP user (issue 11, item 5). sipp plays
// sipfed.test's server both ways: as a UAC from 127.0.0.1 (in
// --sip-trusted-peers) it sends carol's and dave's MESSAGEs, and as the
// UAS --sip-route names it gets what the room sends them. carol and dave
// /join the lobby (an open room in a federated category); dave's post
// and alice's (a local SIP user) reach carol as MESSAGEs from the room,
// and /who lists the three. A wall (--deny dave@sipfed.test) put on the
// lobby's category takes dave out, and his next /join is refused (403);
// so is carol's /join of a room whose category is not federated. eve of
// sipfed2.test, whose server refuses the room's MESSAGEs (486), is taken
// out of the room at the first refusal, as a local SIP user whose
// contacts expired. carol's /leave ends her occupancy. Compliance
// captures the joins and leaves with the foreign users as the actors.
func TestSippFederationRoomOccupant(t *testing.T) {
	sipp := requireSipp(t)
	t.Parallel()
	ports := freePorts(t, 2)
	fedPort, refusePort := ports[0], ports[1]
	const refusingDomain = "sipfed2.test"
	s := newServer(t, "")
	s.args = append(s.args, "--sip-trusted-peers", "127.0.0.1",
		"--sip-route", sipFedDomain+"=127.0.0.1:"+strconv.Itoa(fedPort),
		"--sip-route", refusingDomain+"=127.0.0.1:"+strconv.Itoa(refusePort))
	s.start()
	alice, _ := addAliceAndBob(s)
	s.mustCtl("category", "add", "partners")
	s.mustCtl("room", "create", "lobby", "--privacy", "open", "--category", "partners")
	s.mustCtl("category", "add", "internal", "--federated=false")
	s.mustCtl("room", "create", "staff", "--privacy", "open", "--category", "internal")
	startSippUAS(t, s, sipp, fedPort)
	fedTrace := filepath.Join(s.dir, "uas-"+strconv.Itoa(fedPort)+".msg")
	rooms := "conference." + domain
	from := func(user, domain, room, body string, status int) {
		t.Helper()
		s.runSipp(sipp, "sip_message_peer_"+strconv.Itoa(status)+".xml", nil, "user", user, "fromdomain", domain,
			"to", room, "domain", rooms, "body", body)
	}
	// to waits for a MESSAGE from the lobby to user@sipfed.test with text.
	to := func(user, text string) {
		t.Helper()
		re := regexp.MustCompile(`(?s)MESSAGE sip:` + user + `@` + regexp.QuoteMeta(sipFedDomain) + ` SIP/2\.0\r?\n` +
			`[^\x00]*?From: <sip:lobby@` + regexp.QuoteMeta(rooms) + `>[^\x00]*?` + regexp.QuoteMeta(text))
		deadline := time.Now().Add(baresipWait)
		for {
			raw, _ := os.ReadFile(fedTrace)
			if re.Match(raw) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("sipfed.test's server got no MESSAGE from the lobby to %s with %q:\n%s\nparleyd:\n%s",
					user, text, tail(raw, 3000), s.tail(s.stderr, 30))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	from("carol", sipFedDomain, "lobby", "/join carol", 200)
	to("carol", "You joined lobby as carol.")
	from("dave", sipFedDomain, "lobby", "/join", 200)
	to("dave", "You joined lobby as dave. Also here: carol.")
	to("carol", "* dave joined")
	from("dave", sipFedDomain, "lobby", "hello from dave", 200)
	to("carol", "dave: hello from dave")
	s.sipRoomPost(sipp, alice, "lobby", "hello from alice")
	to("carol", "alice: hello from alice")
	to("dave", "alice: hello from alice")
	from("carol", sipFedDomain, "lobby", "/who", 200)
	to("carol", "In lobby (3): alice, carol, dave")

	// A wall takes dave out, and keeps him out.
	s.mustCtl("category", "set", "partners", "--deny", "dave@"+sipFedDomain)
	to("dave", "You were removed from lobby")
	to("carol", "* dave left")
	from("dave", sipFedDomain, "lobby", "/join", 403)
	// A category that is not federated.
	from("carol", sipFedDomain, "staff", "/join", 403)

	// eve's server refuses the room's first MESSAGE to her: she is out.
	startSippUASScenario(t, s, sipp, refusePort, "u1", "sip_uas_refuse.xml")
	from("eve", refusingDomain, "lobby", "/join eve", 200)
	to("carol", "* eve joined")
	to("carol", "* eve left")

	from("carol", sipFedDomain, "lobby", "/leave", 200)
	to("carol", "You left lobby.")

	var export string
	want := []string{`"type":"join".*"actor":"carol@` + regexp.QuoteMeta(sipFedDomain) + `"`,
		`"type":"leave".*"actor":"carol@` + regexp.QuoteMeta(sipFedDomain) + `"`,
		`"type":"post".*"actor":"dave@` + regexp.QuoteMeta(sipFedDomain) + `"`,
		`"type":"leave".*"actor":"eve@` + regexp.QuoteMeta(refusingDomain) + `"`}
	missing := want
	for deadline := time.Now().Add(15 * time.Second); len(missing) > 0 && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		export, _ = s.ctl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--room", "lobby", "--format", "json")
		missing = nil
		for _, w := range want {
			if !regexp.MustCompile(`(?m)^.*` + w + `.*$`).MatchString(export) {
				missing = append(missing, w)
			}
		}
	}
	for _, w := range missing {
		t.Errorf("the lobby's compliance export has no event matching %s:\n%s", w, export)
	}
}

// TestSIPFederationTLSIdentity: --sip-trusted-peers names a domain, whose
// server is trusted on SIP over TLS by its certificate (RFC 5922 §7.1),
// verified against --s2s-ca. OpenSSL's s_client plays sipfed.test's server
// with a certificate for sipfed.test from the test's CA: its MESSAGE from
// carol@sipfed.test to the lobby is taken (200) and captured with carol as
// the actor. The same MESSAGE with a self-signed certificate for
// sipfed.test is refused (403) and not taken.
func TestSIPFederationTLSIdentity(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl not found on PATH (%v)\nInstall it with: apt-get install -y openssl", err)
	}
	t.Parallel()
	s := newServer(t, "")
	ca := newTestCA(t, s.dir)
	good, goodKey := filepath.Join(s.dir, "sipfed.pem"), filepath.Join(s.dir, "sipfed.key")
	writeCert(t, ca, good, goodKey, sipFedDomain)
	self, selfKey := filepath.Join(s.dir, "self.pem"), filepath.Join(s.dir, "self.key")
	writeSelfSigned(t, self, selfKey, sipFedDomain)
	port := freePorts(t, 1)[0]
	s.args = append(s.args, "--sip-tls", "127.0.0.1:"+strconv.Itoa(port), "--sip-trusted-peers", sipFedDomain, "--s2s-ca", ca.pemFile)
	s.start()
	s.mustCtl("room", "create", "lobby", "--privacy", "open")

	send := func(cert, key, body string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", "127.0.0.1:"+strconv.Itoa(port),
			"-cert", cert, "-key", key, "-quiet")
		to := "sip:lobby@conference." + domain
		cmd.Stdin = strings.NewReader(fmt.Sprintf("MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/TLS %s:5061;branch=z9hG4bK%s;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:carol@%s>;tag=t1\r\nTo: <%s>\r\nCall-ID: %s@%s\r\nCSeq: 1 MESSAGE\r\n"+
			"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s",
			to, sipFedDomain, randomHex(t, 8), sipFedDomain, to, randomHex(t, 8), sipFedDomain, len(body), body))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); cmd.Wait() }()
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if m := regexp.MustCompile(`^SIP/2\.0 ([2-6]\d\d) `).FindStringSubmatch(line); m != nil {
				return m[1]
			}
			if err != nil {
				t.Fatalf("openssl s_client got no final response: %v\n%s\nparleyd:\n%s", err, stderr.String(), s.tail(s.stderr, 20))
			}
		}
	}
	if got := send(good, goodKey, "hello lobby over tls"); got != "200" {
		t.Errorf("MESSAGE with a certificate for %s from the trusted CA: %s, want 200", sipFedDomain, got)
	}
	if got := send(self, selfKey, "self-signed and spoofed"); got != "403" {
		t.Errorf("MESSAGE with a self-signed certificate for %s: %s, want 403", sipFedDomain, got)
	}
	var export string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		export, _ = s.ctl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--room", "lobby", "--format", "json")
		if strings.Contains(export, "hello lobby over tls") {
			break
		}
	}
	if !regexp.MustCompile(`"type":"post".*"actor":"carol@` + regexp.QuoteMeta(sipFedDomain) + `".*hello lobby over tls|hello lobby over tls.*"actor":"carol@` + regexp.QuoteMeta(sipFedDomain) + `"`).MatchString(export) {
		t.Errorf("the lobby's export has no post by carol@%s:\n%s", sipFedDomain, export)
	}
	if strings.Contains(export, "spoofed") {
		t.Errorf("the refused MESSAGE was taken:\n%s", export)
	}
}
