package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The web admin console (/admin, package admin) in a real browser, as an
// administrator would use it: alice (--admins) logs in with her chat
// password, creates a category that walls mallory off, creates a closed
// room in it with bob as a member (the console refuses mallory as a
// member: the wall), and a slixmpp bob then finds the room in the MUC
// service's rooms (disco#items), sees it is closed and joins it, while
// mallory is refused. Screenshots: admin-login, admin-categories,
// admin-rooms.
func TestAdminConsole(t *testing.T) {
	requireSlixmpp(t)
	requireChromium(t)
	sipp := requireSipp(t)
	s := newServer(t, "")
	s.args = append(s.args, "--admins", "alice")
	s.start()
	alice, bob, mallory := account{"alice", "pw-alice"}, account{"bob", "pw-bob"}, account{"mallory", "pw-mallory"}
	for _, u := range []account{alice, bob, mallory} {
		s.addUser(u.name, u.password)
	}
	base := fmt.Sprintf("https://localhost:%d/", s.https)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	began := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"admin"), chromedp.WaitVisible(chromedp.CSS(`#login-user`))); err != nil {
		t.Fatalf("the login form: %v", err)
	}
	loginShown := time.Since(began)
	// The browser's own measure: navigation start to first contentful
	// paint, and to the load event.
	paint, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
		const p = performance.getEntriesByName("first-contentful-paint")[0];
		return p ? p.startTime : -1; })()`))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByType("navigation")[0].loadEventEnd`))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, s.dir, "admin-login")

	loggedIn := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#login-user`), alice.name),
		chromedp.SendKeys(chromedp.CSS(`#login-password`), alice.password),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
		waitText(`#users-table tbody`, "mallory@"+domain),
	); err != nil {
		screenshot(t, ctx, s.dir, "admin-login-failed")
		t.Fatalf("logging in and seeing the users: %v", err)
	}
	firstRender := time.Since(loggedIn)

	// A category with an ethical wall.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav button[data-tab=categories]`)),
		chromedp.WaitVisible(chromedp.CSS(`#category-form`)),
		chromedp.SendKeys(chromedp.CSS(`#category-form input[name=name]`), "legal"),
		chromedp.SendKeys(chromedp.CSS(`#category-form input[name=description]`), "Counsel and the board"),
		chromedp.SendKeys(chromedp.CSS(`#category-form input[name=deny]`), "mallory"),
		chromedp.Click(chromedp.CSS(`#category-add`)),
		waitText(`#categories-table tbody`, "mallory@"+domain),
	); err != nil {
		screenshot(t, ctx, s.dir, "admin-categories-failed")
		t.Fatalf("creating the category: %v", err)
	}
	screenshot(t, ctx, s.dir, "admin-categories")

	// A closed room in it with bob as a member.
	roomJID := "board@conference." + domain
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav button[data-tab=rooms]`)),
		waitText(`#room-form select[name=category]`, "legal"),
		chromedp.SendKeys(chromedp.CSS(`#room-form input[name=name]`), "board"),
		chromedp.SetValue(chromedp.CSS(`#room-form select[name=category]`), "legal"),
		chromedp.SetValue(chromedp.CSS(`#room-form select[name=privacy]`), "closed"),
		chromedp.SendKeys(chromedp.CSS(`#room-form input[name=title]`), "The board"),
		chromedp.SendKeys(chromedp.CSS(`#room-form input[name=members]`), "bob"),
		chromedp.Click(chromedp.CSS(`#room-create`)),
		waitText(`#rooms-table tbody`, roomJID),
	); err != nil {
		screenshot(t, ctx, s.dir, "admin-rooms-failed")
		t.Fatalf("creating the room: %v", err)
	}
	// mallory cannot be made a member: the category's wall.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#places-form input[name=room]`), "board"),
		chromedp.SendKeys(chromedp.CSS(`#places-form input[name=users]`), "mallory"),
		chromedp.Click(chromedp.CSS(`#places-form button[value=add]`)),
		waitText(`#notice.bad`, "mallory@"+domain),
	); err != nil {
		screenshot(t, ctx, s.dir, "admin-rooms-failed")
		t.Fatalf("the wall against mallory: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#rooms-table tbody tr:first-child button`)),
		waitText(`#room-detail`, "members: bob@"+domain),
	); err != nil {
		t.Fatalf("the room's details: %v", err)
	}
	screenshot(t, ctx, s.dir, "admin-rooms")
	// The node's metrics summary (and the pool's, which SQLite has not).
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav button[data-tab=node]`)),
		waitText(`#metrics-table`, "parley_xmpp_sessions"),
		waitText(`#pool-note`, "MySQL"),
	); err != nil {
		t.Fatalf("the node's metrics: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-tab=rooms]`)), waitText(`#rooms-table tbody`, roomJID)); err != nil {
		t.Fatal(err)
	}

	// parleyctl --server does what the console does from another machine:
	// no data directory of the node's, the node's certificate trusted,
	// alice's password from the environment.
	remote := func(args ...string) string {
		t.Helper()
		ctl := exec.Command(filepath.Join(s.bin, "parleyctl"), append([]string{"--server", base, "--server-user", "alice",
			"--server-ca", filepath.Join(s.data, "tls", "cert.pem")}, args...)...)
		ctl.Env = append(os.Environ(), "PARLEY_SERVER_PASSWORD="+alice.password)
		ctl.Dir = t.TempDir()
		out, err := ctl.CombinedOutput()
		if err != nil {
			t.Errorf("parleyctl --server %s %s: %v\n%s", base, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// What the console did, as XMPP users see it; then bob, in the room,
	// is taken off its members in the console and removed at once.
	state := filepath.Join(s.dir, "admin_room.state")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runScript("admin_room.py", []account{bob, mallory}, "--room", "board", "--state", state)
	}()
	t.Cleanup(func() { <-done })
	waitFile(t, state, done, "bob in the room")
	if out := remote("user", "sessions"); !regexp.MustCompile(`(?m)^bob@` + domain + `/desk\s+xmpp\s+available$`).MatchString(out) {
		t.Errorf("parleyctl --server user sessions does not list bob's session:\n%s", out)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#places-form input[name=users]`), "bob"),
		chromedp.Click(chromedp.CSS(`#places-form button[value=remove]`)),
		waitText(`#room-detail`, "members: -"),
	); err != nil {
		t.Fatalf("removing bob from the members: %v", err)
	}
	waitFile(t, state+".kick", done, "bob removed")
	if out := remote("user", "kick", "bob"); out != "ended 1 sessions of bob\n" {
		t.Errorf("parleyctl --server user kick bob: %q", out)
	}
	<-done

	// A SIP registration is a session too: mallory registers with sipp,
	// is listed, and disabling her account ends the registration (and
	// leaves her nothing to register with).
	s.runSipp(sipp, "sip_register.xml", []string{"-au", mallory.name, "-ap", mallory.password, "-auth_uri", domain},
		"user", mallory.name, "domain", domain)
	if out := remote("user", "sessions"); !regexp.MustCompile(`(?m)^mallory@` + domain + `\s+sip\s+registered, contact sip:mallory@127\.0\.0\.1:\d+`).MatchString(out) {
		t.Errorf("parleyctl --server user sessions does not list mallory's SIP registration:\n%s", out)
	}
	if out := remote("user", "disable", "mallory"); out != "disabled mallory@"+domain+" (user passwd enables it again)\n" {
		t.Errorf("user disable mallory: %q", out)
	}
	if out := remote("user", "sessions"); strings.Contains(out, "mallory") {
		t.Errorf("mallory's registration is still listed after user disable:\n%s", out)
	}
	if out := remote("user", "list"); !strings.Contains(out, "mallory (disabled)\n") {
		t.Errorf("user list does not show mallory disabled:\n%s", out)
	}
	// And puts bob back.
	remote("room", "members", "add", "board", "bob")
	out := remote("room", "show", "board")
	if !regexp.MustCompile(`(?m)^members\s+bob@`+domain+`$`).MatchString(out) || !regexp.MustCompile(`(?m)^creator\s+alice@`+domain+`$`).MatchString(out) {
		t.Errorf("parleyctl --server %s room show board: bob is not a member again, or alice not the creator:\n%s", base, out)
	}

	// And for compliance, alice did it (once the worker copied it). The
	// disable is recorded with the change, the registration it ended
	// after it, as a kick.
	var missing []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		events := s.mustCtl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "json", "--user", "alice@"+domain)
		missing = nil
		for _, typ := range []string{`"admin.login"`, `"category.put"`, `"room.create"`} {
			if !strings.Contains(events, `"type":`+typ) || !strings.Contains(events, `"actor":"alice@`+domain+`"`) {
				missing = append(missing, typ)
			}
		}
		events = s.mustCtl("compliance", "export", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "json", "--user", "mallory@"+domain)
		if !strings.Contains(events, `"type":"account.disable"`) {
			missing = append(missing, "account.disable of mallory")
		}
		if !regexp.MustCompile(`"type":"account.kick".*"sessions_ended":1`).MatchString(events) {
			missing = append(missing, "account.kick of mallory's registration")
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("no %v events with alice as actor in the compliance export", missing)
	}
	t.Logf("admin console: first contentful paint %.0fms, load event %.0fms after navigation start (browser timing); login form visible %v after Navigate; users shown %v after logging in",
		paint, loaded, loginShown.Round(time.Millisecond), firstRender.Round(time.Millisecond))
}

// waitText waits until the element sel holds text.
func waitText(sel, text string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, text),
		chromedp.WithPollingTimeout(20*time.Second))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := poll(ctx, t)
		return chromedp.Void{}, err
	}
}
