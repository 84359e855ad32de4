package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestSlixmppMessageRefusedBySIPContact: alice's only SIP contact (a sipp
// UAS) answers bob's message with 486 Busy Here; bob's slixmpp client
// gets the message back as an error with recipient-unavailable (RFC 7247
// §8.2) and its own id.
func TestSlixmppMessageRefusedBySIPContact(t *testing.T) {
	sipp := requireSipp(t)
	requireSlixmpp(t)
	t.Parallel()
	s, alice, bob := imServer(t)
	port := freePorts(t, 1)[0]
	// REGISTER from the port the UAS will then listen on, so the contact
	// ([local_port] in the scenario) is the UAS.
	s.runSipp(sipp, "sip_register.xml", []string{"-au", alice.name, "-ap", alice.password,
		"-auth_uri", domain, "-p", strconv.Itoa(port)}, "user", alice.name, "domain", domain)

	scenario, err := filepath.Abs(filepath.Join("testdata", "sip_uas_refuse.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	msgs := filepath.Join(s.dir, "uas.msg")
	uas := exec.CommandContext(ctx, sipp, "-sf", scenario, "-m", "1", "-nostdin", "-t", "u1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-trace_msg", "-message_file", msgs)
	uas.Dir = s.dir
	out, err := os.Create(filepath.Join(s.dir, "uas.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	uas.Stdout, uas.Stderr = out, out
	if err := uas.Start(); err != nil {
		t.Fatalf("sipp UAS: %v", err)
	}
	uasDone := make(chan error, 1)
	go func() { uasDone <- uas.Wait() }()

	s.runScript("sip_im.py", []account{bob}, "--phase", "bounce", "--peer", alice.name,
		"--body", "are you there?", "--condition", "recipient-unavailable")
	select {
	case err := <-uasDone:
		if err != nil {
			trace, _ := os.ReadFile(msgs)
			t.Errorf("sipp UAS: %v\n%s", err, tail(trace, 2000))
		}
	case <-ctx.Done():
		t.Errorf("sipp UAS got no MESSAGE")
	}
}
