package interop

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium is Debian's browser, driven headless over the DevTools protocol
// (chromedp); nothing is downloaded at test time.
const chromium = "/usr/bin/chromium"

// requireChromium fails the test, saying how to install it, when the
// system Chromium is missing.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(chromium); err != nil {
		t.Fatalf("%s not found (%v)\nInstall it with: apt-get install -y chromium", chromium, err)
	}
}

// browser starts a headless Chromium that trusts any certificate (parleyd's
// is self-signed) and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 800),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// What the page logs and throws, shown when the test fails.
	var consoleMu sync.Mutex
	var console []string
	listener := chromedp.WithListener(func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			args := make([]string, 0, len(ev.Args))
			for _, a := range ev.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			line = string(ev.Type) + ": " + strings.Join(args, " ")
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			line = fmt.Sprintf("exception: %s %s:%d", d.Text, d.URL, d.LineNumber+1)
			if d.Exception != nil {
				line += ": " + d.Exception.Description
			}
		default:
			return
		}
		consoleMu.Lock()
		console = append(console, line)
		consoleMu.Unlock()
	})
	ctx, cancelCtx := chromedp.NewContext(actx, listener)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			consoleMu.Lock()
			t.Logf("the browser's console:\n%s", strings.Join(console, "\n"))
			consoleMu.Unlock()
		}
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// screenshot saves the page as NAME.png in the test's directory and, when
// PARLEY_SCREENSHOTS names a directory, there too (the README's pictures
// come from there).
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	for _, d := range []string{dir, os.Getenv("PARLEY_SCREENSHOTS")} {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Errorf("screenshot: %v", err)
		} else {
			t.Logf("screenshot: %s", p)
		}
	}
}

// The bundled web client (Converse.js, package webclient) in a real
// browser, as a user would: it logs in to parleyd over wss: (RFC 7395),
// or over BOSH (XEP-0206) with ?transport=bosh, lists the rooms of the MUC
// service, joins one, shows what a slixmpp user posted there before (the
// room's history), posts a message that the slixmpp user receives from
// ROOM/alice, and shows the slixmpp user's answer; over WebSocket it also
// shares a file (XEP-0363) whose link serves the same bytes.
func TestWebClientRoomWithSlixmpp(t *testing.T) {
	requireSlixmpp(t)
	requireChromium(t)
	for _, transport := range []string{"websocket", "bosh"} {
		t.Run(transport, func(t *testing.T) {
			s := newServer(t, "")
			s.start()
			alice, bob := account{"alice", "pw-alice"}, account{"bob", "pw-bob"}
			s.addUser(alice.name, alice.password)
			s.addUser(bob.name, bob.password)
			room := "lobby"
			s.mustCtl("room", "create", room, "--privacy", "open", "--subject", "Welcome to the lobby")
			base := fmt.Sprintf("https://localhost:%d/", s.https)
			requireWebClient(t, base)

			ctx := browser(t)
			page := base
			if transport == "bosh" {
				page += "?transport=bosh"
			}
			// The browser starts on a blank page: what is timed below
			// is the web client's.
			if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
				t.Fatalf("starting %s: %v", chromium, err)
			}
			began := time.Now()
			if err := chromedp.Do(ctx, chromedp.Navigate(page),
				chromedp.WaitVisible(chromedp.CSS(`#converse-login-jid`))); err != nil {
				t.Fatalf("the login form: %v", err)
			}
			loginShown := time.Since(began)
			screenshot(t, ctx, s.dir, "webclient-login")
			if err := loginWebClient(ctx, alice); err != nil {
				t.Fatalf("logging in: %v", err)
			}
			body := "hello from the browser over " + transport
			reply := "hello browser, bob here (" + transport + ")"
			history := "posted before the browser came (" + transport + ")"
			done := s.browserPeer(bob, room, alice.name, body, reply, history)

			// The rooms, as a user finds them: Groupchats menu, the
			// service's rooms (disco#items), then lobby.
			opened := time.Now()
			roomJID := room + "@conference." + domain
			if err := chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`#chatrooms .dropdown-toggle`)),
				chromedp.Click(chromedp.CSS(`#chatrooms .show-list-muc-modal`)),
				chromedp.Click(chromedp.CSS(`form.list-chatrooms [type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`a.open-room[data-room-jid="`+roomJID+`"]`)),
			); err != nil {
				screenshot(t, ctx, s.dir, "webclient-rooms-failed")
				t.Fatalf("the list of rooms: %v", err)
			}
			screenshot(t, ctx, s.dir, "webclient-rooms")
			if err := chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`a.open-room[data-room-jid="`+roomJID+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(`textarea.chat-textarea`))); err != nil {
				t.Fatalf("the room's view: %v", err)
			}
			roomShown := time.Since(opened)
			// What bob said before alice came is in the room's history.
			waitShown(t, ctx, s.dir, history, "bob's earlier post, from the room's history")
			if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`textarea.chat-textarea`), body+"\r")); err != nil {
				t.Fatalf("posting: %v", err)
			}
			waitShown(t, ctx, s.dir, reply, "bob's reply")
			if transport == "websocket" {
				uploadFromBrowser(t, ctx, s, base)
			}
			screenshot(t, ctx, s.dir, "webclient-room-"+transport)
			t.Logf("%s: login form shown %v after navigation; the room shown %v after opening the room list (listed, joined, history shown)",
				transport, loginShown.Round(time.Millisecond), roomShown.Round(time.Millisecond))
			<-done
		})
	}
}

// loginWebClient logs u in on the web client's login form and waits for
// the signed-in control box.
func loginWebClient(ctx context.Context, u account) error {
	return chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#converse-login-jid`), u.name),
		chromedp.SendKeys(chromedp.CSS(`#converse-login-password`), u.password),
		chromedp.Click(chromedp.CSS(`#converse-login [type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.controlbox-section .xmpp-status, converse-user-profile`)),
	)
}

// browserPeer runs testdata/webclient_room.py: the slixmpp user peer joins
// room and posts history, then waits for body from the browser's user,
// in the room as nick, and answers reply. It returns once peer is in the
// room, with a channel closed when the script has ended (and checked).
func (s *server) browserPeer(peer account, room, nick, body, reply, history string) <-chan struct{} {
	t := s.t
	t.Helper()
	ready := filepath.Join(t.TempDir(), "room.ready")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("webclient_room.py", []account{peer}, "--state", ready,
			"--room", room, "--nick", nick, "--body", body, "--reply", reply, "--history", history)
	}()
	t.Cleanup(func() { <-done })
	waitFile(t, ready, done, peer.name+" in the room")
	return done
}

// uploadFromBrowser shares a file in the open room with the client's
// paperclip (HTTP File Upload, XEP-0363, PUT to the HTTPS listener) and
// checks that the link it posts serves the same bytes, as an attachment
// (text is active content's cousin: never shown inline).
func uploadFromBrowser(t *testing.T, ctx context.Context, s *server, base string) {
	t.Helper()
	content := "minutes of the meeting, shared from the browser\n"
	file := filepath.Join(t.TempDir(), "minutes.txt")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`input.fileupload[type=file]`), []string{file})); err != nil {
		t.Fatalf("choosing the file: %v", err)
	}
	js := `(Array.from(document.querySelectorAll(".chat-msg__text a, .chat-msg a")).map(a => a.href).find(h => h.includes("/upload/") && h.endsWith("minutes.txt")) || "")`
	var link string
	for deadline := time.Now().Add(30 * time.Second); link == ""; {
		var err error
		if link, err = chromedp.Run(ctx, chromedp.Evaluate[string](js)); err != nil {
			t.Fatal(err)
		}
		if link == "" && time.Now().After(deadline) {
			screenshot(t, ctx, s.dir, "webclient-upload-failed")
			t.Fatal("no link to the uploaded file in the room within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.HasPrefix(link, strings.TrimSuffix(base, "/")+"/upload/") {
		t.Errorf("upload link %s is not on the HTTPS listener %s", link, base)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != content {
		t.Errorf("GET %s: %d %q, want %q", link, resp.StatusCode, got, content)
	}
	if d := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(d, "attachment") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("the download's headers: %v", resp.Header)
	}
	screenshot(t, ctx, s.dir, "webclient-upload")
}

// waitShown waits until a message holding text is shown, failing (with a
// screenshot) after 30 s.
func waitShown(t *testing.T, ctx context.Context, dir, text, what string) {
	t.Helper()
	js := fmt.Sprintf(`Array.from(document.querySelectorAll(".chat-msg__text")).some(e => e.textContent.includes(%q))`, text)
	waitUntil(t, ctx, dir, js, fmt.Sprintf("%s (%q)", what, text), "webclient-room-failed")
}

// waitUntil polls the page until the JavaScript expression js is true,
// failing (with a screenshot named shot) after 30 s.
func waitUntil(t *testing.T, ctx context.Context, dir, js, what, shot string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			screenshot(t, ctx, dir, shot)
			t.Fatalf("%s not shown within 30s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requireWebClient fails the test when parleyd was built without its web
// client, saying how to build it in.
func requireWebClient(t *testing.T, base string) {
	t.Helper()
	requirePage(t, base, "converse.min.js", "webclient")
}

// requirePage fails the test when url does not serve a page holding
// marker with a CSP and nosniff: parleyd was built without it, and make
// target builds it in.
func requirePage(t *testing.T, url, marker, target string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), marker) {
		t.Fatalf("parleyd serves no such page at %s (%d): build it in with make %s (needs npm), then run the tests again", url, resp.StatusCode, target)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") && !strings.Contains(csp, "default-src 'none'") ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("the page at %s lacks its CSP or nosniff: %v", url, resp.Header)
	}
}
