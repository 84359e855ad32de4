package interop

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The log audit (issue 15: no passwords, tokens or message bodies in the
// logs at any level). Every parleyd the harness starts logs at debug level
// into its own file; when it stops, its files are searched for every
// password a test gave an account (addUser registers them) and every
// message body a test registered, and for the shapes a leaked stanza or
// body takes: a <body> element, a body= or "body": field.

// logSecrets are the passwords and bodies of the whole test run.
var logSecrets struct {
	mu  sync.Mutex
	set map[string]bool
}

// auditSecret adds s to what no log may contain. Short strings would match
// by chance: passwords and bodies of tests are longer than 5 bytes.
func auditSecret(s string) {
	if len(s) < 6 {
		return
	}
	logSecrets.mu.Lock()
	defer logSecrets.mu.Unlock()
	if logSecrets.set == nil {
		logSecrets.set = make(map[string]bool)
	}
	logSecrets.set[s] = true
}

func secretsNow() []string {
	logSecrets.mu.Lock()
	defer logSecrets.mu.Unlock()
	out := make([]string, 0, len(logSecrets.set))
	for s := range logSecrets.set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// leakShapes are what a stanza or a message body looks like in a log line.
var leakShapes = regexp.MustCompile(`<body[ >]|&lt;body|\bbody=|"body":`)

// leaks returns the log lines that contain a secret or a leak shape, with
// what they contain (never the secret itself: the test log is a log too).
func leaks(log []byte, secrets []string) []string {
	var found []string
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		for i, s := range secrets {
			if strings.Contains(line, s) {
				found = append(found, fmt.Sprintf("line %d holds test secret #%d (%d bytes): %.80s…", n, i, len(s), redact(line, s)))
			}
		}
		if leakShapes.MatchString(line) {
			for _, s := range secrets {
				line = redact(line, s)
			}
			found = append(found, fmt.Sprintf("line %d looks like a stanza or body: %.200s", n, line))
		}
	}
	return found
}

func redact(line, secret string) string { return strings.ReplaceAll(line, secret, "<secret>") }

// auditLogs checks every parleyd log file of the server's directory.
func (s *server) auditLogs() {
	s.t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.dir, "parleyd-*.stderr"))
	secrets := secretsNow()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			s.t.Errorf("log audit: %v", err)
			continue
		}
		for _, l := range leaks(b, secrets) {
			s.t.Errorf("log audit: %s: %s", filepath.Base(f), l)
		}
	}
}

// TestLogAudit checks the audit itself: it finds a password and a body in
// a log line, at any level, and the shapes of a leaked stanza, and passes
// clean lines.
func TestLogAudit(t *testing.T) {
	secrets := []string{"correct horse battery", "the secret plan for Tuesday"}
	log := []byte(`time=T level=INFO msg=login proto=xmpp jid=alice@localhost/x remote=127.0.0.1:1
time=T level=DEBUG msg="SCRAM step failed" err="bad password correct horse battery"
time=T level=INFO msg="room join" room=lobby user=alice@localhost
{"time":"T","level":"DEBUG","msg":"stanza","xml":"<message><body>hi</body></message>"}
time=T level=DEBUG msg=post body="the secret plan for Tuesday"
`)
	got := leaks(log, secrets)
	if len(got) != 4 {
		t.Fatalf("found %d leaks, want 4 (password, stanza, body field, body text):\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, l := range got {
		if strings.Contains(l, secrets[0]) || strings.Contains(l, secrets[1]) {
			t.Errorf("the report repeats the secret: %s", l)
		}
	}
}
