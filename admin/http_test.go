package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

const testDomain = "example.test"

// testAPI is the admin API over a real SQLite store and room engine.
type testAPI struct {
	t     *testing.T
	h     *Handler
	store storage.Store
	svc   *Service
}

func newTestAPI(t *testing.T, loginsPerMinute int) *testAPI {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := backend.Open(ctx, "sqlite:"+filepath.Join(dir, "parley.db"), contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	engine, err := muc.New(ctx, muc.Config{Store: store, Domain: testDomain, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Config{Domain: testDomain, Store: store, Data: dir,
		ComplianceStorage: "sqlite:" + filepath.Join(dir, "compliance.db"),
		Engine:            func(context.Context) (Engine, error) { return engine, nil }})
	h, err := NewHandler(HandlerConfig{Service: svc, Domain: testDomain, Admins: []string{"alice"},
		Verifier: auth.StoredVerifier{Accounts: store}, LoginsPerMinute: loginsPerMinute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a := &testAPI{t: t, h: h, store: store, svc: svc}
	for _, u := range []string{"alice", "bob"} {
		if _, err := svc.As(ActorAdmin()).AddUser(ctx, u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// ActorAdmin is parleyctl's actor, for the tests' own setup.
func ActorAdmin() string { return muc.ActorAdmin }

// client is one browser's state: its cookie and CSRF token.
type client struct {
	cookie string
	csrf   string
}

func (a *testAPI) do(c client, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "https://chat.example.test"+path, rd)
	if c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: c.cookie})
	}
	if c.csrf != "" {
		r.Header.Set(CSRFHeader, c.csrf)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

func (a *testAPI) login(user, password string) (client, *httptest.ResponseRecorder) {
	a.t.Helper()
	body, _ := json.Marshal(map[string]string{"user": user, "password": password})
	w := a.do(client{}, "POST", APIPrefix+"login", string(body), nil)
	var c client
	for _, ck := range w.Result().Cookies() {
		if ck.Name == CookieName {
			c.cookie = ck.Value
		}
	}
	var who Whoami
	json.Unmarshal(w.Body.Bytes(), &who)
	c.csrf = who.CSRF
	return c, w
}

// concrete fills a route pattern's wildcards.
func concrete(pattern string) string {
	return regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllStringFunc(pattern, func(w string) string {
		return map[string]string{"{name}": "lobby", "{list}": "members", "{id}": "x1"}[w]
	})
}

// A logged-in user who is not an administrator gets 403 on every route of
// the router but the public ones (log in, log out), whatever they send;
// nobody logged in gets 401. The routes come from the router's table, so
// a new route is covered as soon as it exists.
func TestEveryRouteRefusesNonAdmin(t *testing.T) {
	a := newTestAPI(t, 0)
	bob, w := a.login("bob", "pw-bob")
	if w.Code != http.StatusOK || bob.cookie == "" {
		t.Fatalf("bob's login: %d %s", w.Code, w.Body)
	}
	var who Whoami
	json.Unmarshal(w.Body.Bytes(), &who)
	if who.Admin || who.User != "bob@"+testDomain {
		t.Errorf("bob's login says %+v", who)
	}
	n := 0
	for _, rt := range Routes() {
		if rt.Public {
			continue
		}
		n++
		path := APIPrefix + concrete(rt.Pattern)
		body := `{}`
		if w := a.do(bob, rt.Method, path, body, nil); w.Code != http.StatusForbidden {
			t.Errorf("%s %s as bob: %d %s, want 403", rt.Method, path, w.Code, w.Body)
		}
		if w := a.do(client{}, rt.Method, path, body, nil); w.Code != http.StatusUnauthorized {
			t.Errorf("%s %s logged out: %d, want 401", rt.Method, path, w.Code)
		}
	}
	if n < 30 {
		t.Errorf("only %d routes checked", n)
	}
	// And nothing bob asked for happened.
	if _, err := a.svc.As(ActorAdmin()).Room(context.Background(), "lobby"); muc.CodeOf(err) != muc.CodeNotFound {
		t.Errorf("room lobby: %v, want not found", err)
	}
}

// The session cookie is Secure, HttpOnly, SameSite=Strict and host-only
// (__Host- prefix, Path=/); a wrong password gets no cookie.
func TestLoginCookie(t *testing.T) {
	a := newTestAPI(t, 0)
	if _, w := a.login("alice", "wrong"); w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong password: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	if _, w := a.login("nobody", "pw"); w.Code != http.StatusUnauthorized {
		t.Errorf("unknown user: %d", w.Code)
	}
	alice, w := a.login("alice@"+testDomain, "pw-alice")
	if w.Code != http.StatusOK {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != "__Host-parley-admin" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %+v: want __Host-, Secure, HttpOnly, SameSite=Strict, Path=/, no Domain", c)
	}
	if raw := w.Header().Get("Set-Cookie"); !strings.Contains(raw, "SameSite=Strict") || !strings.Contains(raw, "Secure") || !strings.Contains(raw, "HttpOnly") {
		t.Errorf("Set-Cookie: %s", raw)
	}
	if w := a.do(alice, "GET", APIPrefix+"session", "", nil); w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("GET session: %d %v", w.Code, w.Header())
	}
	// Logging out ends the session.
	if w := a.do(alice, "POST", APIPrefix+"logout", "", nil); w.Code != http.StatusOK {
		t.Errorf("logout: %d %s", w.Code, w.Body)
	}
	if w := a.do(alice, "GET", APIPrefix+"users", "", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("after logout: %d, want 401", w.Code)
	}
}

// A state-changing request without the session's CSRF token, with another
// session's token, or from another origin is refused and changes nothing;
// the same request done right succeeds.
func TestCSRF(t *testing.T) {
	a := newTestAPI(t, 0)
	alice, _ := a.login("alice", "pw-alice")
	bob, _ := a.login("bob", "pw-bob")
	body := `{"name":"legal","deny":["mallory"]}`
	forged := []struct {
		what string
		c    client
		hdr  map[string]string
	}{
		{"no token (a form posted from another site)", client{cookie: alice.cookie}, nil},
		{"another session's token", client{cookie: alice.cookie, csrf: bob.csrf}, nil},
		{"the right token from another origin", alice, map[string]string{"Origin": "https://evil.example"}},
		{"the right token, cross-site by Fetch Metadata", alice, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, f := range forged {
		if w := a.do(f.c, "POST", APIPrefix+"categories", body, f.hdr); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", f.what, w.Code, w.Body)
		}
	}
	if _, err := a.svc.As(ActorAdmin()).Category(context.Background(), "legal"); muc.CodeOf(err) != muc.CodeNotFound {
		t.Fatalf("a forged request created the category: %v", err)
	}
	w := a.do(alice, "POST", APIPrefix+"categories", body, map[string]string{"Origin": "https://chat.example.test", "Sec-Fetch-Site": "same-origin"})
	if w.Code != http.StatusOK {
		t.Fatalf("the real request: %d %s", w.Code, w.Body)
	}
	// A login from another site is refused too (login CSRF).
	r := a.do(client{}, "POST", APIPrefix+"login", `{"user":"alice","password":"pw-alice"}`, map[string]string{"Origin": "https://evil.example"})
	if r.Code != http.StatusForbidden {
		t.Errorf("cross-origin login: %d", r.Code)
	}
}

// Login attempts are paced per client address: past the limit, 429 with
// Retry-After, even with the right password.
func TestLoginRateLimit(t *testing.T) {
	a := newTestAPI(t, 3)
	for i := 0; i < 3; i++ {
		if _, w := a.login("alice", "wrong"); w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, w.Code)
		}
	}
	_, w := a.login("alice", "pw-alice")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("fourth attempt: %d %v, want 429 with Retry-After", w.Code, w.Header())
	}
	for result, want := range map[string]float64{"refused": 3, "limited": 1, "ok": 0} {
		if got := testutil.ToFloat64(a.h.metrics.logins.WithLabelValues(result)); got != want {
			t.Errorf("parley_admin_logins_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := testutil.ToFloat64(a.h.metrics.actions.WithLabelValues("refused")); got != 4 {
		t.Errorf("parley_admin_requests_total{status=refused} = %v, want 4", got)
	}
}

// A successful login costs nothing of the address's budget: an
// administrator's script may log in again and again.
func TestSuccessfulLoginsNotPaced(t *testing.T) {
	a := newTestAPI(t, 2)
	for i := 0; i < 5; i++ {
		if _, w := a.login("alice", "pw-alice"); w.Code != http.StatusOK {
			t.Fatalf("login %d: %d", i+1, w.Code)
		}
	}
	// A non-administrator's login counts as failed.
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if _, w := a.login("bob", "pw-bob"); w.Code != want {
			t.Errorf("bob's login %d: %d, want %d", i+1, w.Code, want)
		}
	}
}

// What an administrator does through the API is captured for compliance
// with the administrator as the actor: the login, a category, a room with
// members, an account change.
func TestActionsCapturedWithAdminAsActor(t *testing.T) {
	a := newTestAPI(t, 0)
	alice, _ := a.login("alice", "pw-alice")
	steps := []struct{ method, path, body string }{
		{"POST", "categories", `{"name":"legal","deny":["mallory"]}`},
		{"POST", "rooms", `{"name":"Board","category":"legal","privacy":"closed","members":["bob"]}`},
		{"POST", "rooms/board/places/managers", `{"add":true,"users":["carol@` + testDomain + `"]}`},
		{"POST", "users", `{"name":"dave","password":"pw-dave"}`},
		{"POST", "users/dave/disable", ``},
	}
	for _, s := range steps {
		if w := a.do(alice, s.method, APIPrefix+s.path, s.body, nil); w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", s.method, s.path, w.Code, w.Body)
		}
	}
	// The wall holds through the API as anywhere.
	if w := a.do(alice, "POST", APIPrefix+"rooms/board/places/members", `{"add":true,"users":["mallory"]}`, nil); w.Code != http.StatusConflict {
		t.Errorf("adding a walled-off user: %d %s, want 409", w.Code, w.Body)
	}
	// dave is disabled: no password works.
	if _, w := a.login("dave", "pw-dave"); w.Code != http.StatusUnauthorized {
		t.Errorf("disabled dave logs in: %d", w.Code)
	}
	evs, err := a.store.(storage.ComplianceOutbox).ReadOutbox(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ev := range evs {
		got[ev.Type] = ev.Actor
	}
	for _, typ := range []string{"admin.login", "category.put", "room.create", "affiliation", "account.add", "account.disable"} {
		if got[typ] != "alice@"+testDomain {
			t.Errorf("event %s: actor %q, want alice@%s (events %v)", typ, got[typ], testDomain, got)
		}
	}
	// The room is as asked, with its creator named.
	r, err := a.svc.As(ActorAdmin()).Room(context.Background(), "board")
	if err != nil {
		t.Fatal(err)
	}
	if r.Privacy != muc.Closed || r.Creator != "alice@"+testDomain || len(r.Affiliations) != 2 {
		t.Errorf("room %+v", r)
	}
}

// The console is served with a strict Content-Security-Policy.
func TestConsoleCSP(t *testing.T) {
	a := newTestAPI(t, 0)
	for _, p := range []string{"/admin", "/admin/", "/admin/console.js", "/admin/console.css"} {
		w := a.do(client{}, "GET", p, "", nil)
		if w.Code != http.StatusOK || w.Header().Get("Content-Security-Policy") != ConsoleCSP || w.Body.Len() == 0 {
			t.Errorf("GET %s: %d, CSP %q", p, w.Code, w.Header().Get("Content-Security-Policy"))
		}
	}
	if !strings.Contains(ConsoleCSP, "script-src 'self'") || strings.Contains(ConsoleCSP, "unsafe") {
		t.Errorf("CSP %s", ConsoleCSP)
	}
}

// An administrator taken off the list (parleyd's reload calls SetAdmins)
// is refused from the next request on, in the session already open; one
// added is let in.
func TestSetAdminsTakesEffectAtOnce(t *testing.T) {
	a := newTestAPI(t, 0)
	alice, _ := a.login("alice", "pw-alice")
	bob, _ := a.login("bob", "pw-bob")
	status := func(c client) int { return a.do(c, "GET", APIPrefix+"users", "", nil).Code }
	if got := status(alice); got != http.StatusOK {
		t.Fatalf("alice, an administrator: GET users %d, want 200", got)
	}
	if got := status(bob); got != http.StatusForbidden {
		t.Fatalf("bob, not one: GET users %d, want 403", got)
	}
	a.h.SetAdmins([]string{"bob"})
	if got := status(alice); got != http.StatusForbidden {
		t.Errorf("alice after she was taken off the list: GET users %d, want 403", got)
	}
	if got := status(bob); got != http.StatusOK {
		t.Errorf("bob after he was added: GET users %d, want 200", got)
	}
}
