package interop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The SIP phone page (package webphone: SIP.js in the browser) as a user
// would use it: a wrong password is refused; with the right one it
// registers over wss:/sip (RFC 7118, digest), joins a room with /join, as
// a SIP user does, posts what a slixmpp user in the room receives from
// ROOM/alice, and shows the slixmpp user's reply and the room's answer to
// /history. Then parleyd restarts: the page reconnects, registers and
// joins again by itself, and the next exchange goes both ways.
func TestWebPhoneRoomWithSlixmpp(t *testing.T) {
	requireSlixmpp(t)
	requireChromium(t)
	s := newServer(t, "")
	s.start()
	ctx := usePhone(t, s, fmt.Sprintf("https://localhost:%d/phone", s.https), "phone")

	// parleyd restarts: the page connects again, registers again and
	// joins lobby again by itself (a restarted parleyd keeps no SIP
	// bindings or SIP room occupants), and the room's posts reach it.
	port := s.https
	s.stop()
	s.start()
	if s.https != port {
		t.Fatalf("parleyd came back on port %d, not %d (another test took it): the page cannot reconnect", s.https, port)
	}
	waitUntil(t, ctx, s.dir, `Array.from(document.querySelectorAll("#log li.entry.own.sent .text")).filter(e => e.textContent === "/join").length === 2`,
		"lobby joined again after parleyd restarted", "phone-rejoin-failed")
	done := s.browserPeer(account{"bob", "pw-bob"}, "lobby", "alice", "back after the restart", "welcome back, phone", "bob again")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#post-text`), "back after the restart\r")); err != nil {
		t.Fatalf("posting: %v", err)
	}
	waitEntry(t, ctx, s.dir, "post", "bob", "welcome back, phone")
	<-done
}

// usePhone runs TestWebPhoneRoomWithSlixmpp's story against the running
// server s, with the phone page at page; its screenshots are named
// SHOT-login and SHOT-room. It returns the browser, the page open in lobby.
func usePhone(t *testing.T, s *server, page, shot string) context.Context {
	t.Helper()
	alice, bob := account{"alice", "pw-alice"}, account{"bob", "pw-bob"}
	s.addUser(alice.name, alice.password)
	s.addUser(bob.name, bob.password)
	room := "lobby"
	s.mustCtl("room", "create", room, "--privacy", "open", "--subject", "Welcome to the lobby")
	requirePage(t, page, `src="/phone/phone.js"`, "webphone")

	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	began := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#login-user`))); err != nil {
		t.Fatalf("the login form: %v", err)
	}
	formShown := time.Since(began)
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const n = performance.getEntriesByType("navigation")[0];
		const r = performance.getEntriesByType("resource");
		return r.length + " files, load event at " + Math.round(n.loadEventEnd) + " ms";
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#login-user`), alice.name),
		chromedp.SendKeys(chromedp.CSS(`#login-password`), "not-"+alice.password),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	// The page says so and empties the password field.
	waitUntil(t, ctx, s.dir, `document.getElementById("login-error").textContent.startsWith("Wrong user or password") && document.getElementById("login-password").value === ""`,
		"the refusal of a wrong password", shot+"-login-failed")
	screenshot(t, ctx, s.dir, shot+"-login")
	registering := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#login-password`), alice.password),
		chromedp.Click(chromedp.CSS(`#login-submit`)),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	waitUntil(t, ctx, s.dir, `document.getElementById("status").textContent === "Registered as sip:alice@`+domain+`"`,
		"registered", shot+"-register-failed")
	registered := time.Since(registering)

	body := "hello from the phone page"
	reply := "hello phone, bob here"
	history := "posted before the phone came"
	done := s.browserPeer(bob, room, alice.name, body, reply, history)

	joining := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#join-room`), room),
		chromedp.Click(chromedp.CSS(`#join-submit`)),
	); err != nil {
		t.Fatalf("joining: %v", err)
	}
	waitEntry(t, ctx, s.dir, "notice", "", "You joined lobby as alice. Also here: bob.")
	joined := time.Since(joining)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#post-text`), body+"\r")); err != nil {
		t.Fatalf("posting: %v", err)
	}
	waitEntry(t, ctx, s.dir, "own.sent", "alice", body)
	waitEntry(t, ctx, s.dir, "post", "bob", reply)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#post-text`), "/history 5\r")); err != nil {
		t.Fatalf("asking for the history: %v", err)
	}
	waitEntry(t, ctx, s.dir, "notice", "", history)
	screenshot(t, ctx, s.dir, shot+"-room")
	t.Logf("the page and SIP.js loaded (%s), login form shown %v after navigation; registered %v after submitting; the room joined %v after Join",
		loaded, formShown.Round(time.Millisecond), registered.Round(time.Millisecond), joined.Round(time.Millisecond))
	<-done
	return ctx
}

// waitEntry waits until the phone page's log shows an entry of class kind
// ("post", "own.sent", "notice") from who ("" for none) holding text.
func waitEntry(t *testing.T, ctx context.Context, dir, kind, who, text string) {
	t.Helper()
	js := fmt.Sprintf(`Array.from(document.querySelectorAll("#log li.entry.%s")).some(e =>
		(e.querySelector(".who")?.textContent ?? "") === %q && e.querySelector(".text").textContent.includes(%q))`, kind, who, text)
	waitUntil(t, ctx, dir, js, fmt.Sprintf("%s from %q: %q", kind, who, text), "phone-room-failed")
}
