package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/parleychat/parley/internal/keyrate"
	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
)

// session is one login to the API. Only a hash of its cookie's token is
// kept, so a memory dump does not hand out sessions.
type session struct {
	user    string // the bare JID
	csrf    string
	created time.Time
	used    time.Time
}

func (s *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

// sessions are the open sessions, each ended after idle unused, the
// oldest dropped beyond max.
type sessions struct {
	idle time.Duration
	max  int

	mu   sync.Mutex
	byID map[[32]byte]*session
}

func newSessions(idle time.Duration, max int) *sessions {
	return &sessions{idle: idle, max: max, byID: make(map[[32]byte]*session)}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start opens a session for user and returns its cookie token.
func (ss *sessions) start(user string, now time.Time) (string, *session) {
	token := randomToken()
	s := &session{user: user, csrf: randomToken(), created: now, used: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.pruneLocked(now)
	if len(ss.byID) >= ss.max {
		var oldest [32]byte
		var at time.Time
		for id, s := range ss.byID {
			if at.IsZero() || s.used.Before(at) {
				oldest, at = id, s.used
			}
		}
		delete(ss.byID, oldest)
	}
	ss.byID[sha256.Sum256([]byte(token))] = s
	return token, s
}

// get returns the live session of a cookie token, marking it used, or nil.
func (ss *sessions) get(token string, now time.Time) *session {
	if token == "" {
		return nil
	}
	id := sha256.Sum256([]byte(token))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s == nil {
		return nil
	}
	if now.Sub(s.used) > ss.idle {
		delete(ss.byID, id)
		return nil
	}
	s.used = now
	return s
}

func (ss *sessions) end(token string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, sha256.Sum256([]byte(token)))
}

func (ss *sessions) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.byID)
}

func (ss *sessions) pruneLocked(now time.Time) {
	for id, s := range ss.byID {
		if now.Sub(s.used) > ss.idle {
			delete(ss.byID, id)
		}
	}
}

// addressRates paces failed logins per client address: a token bucket of
// perMinute a minute, as many at once. An address with no token left may
// not try at all; a successful login costs nothing, so a script running
// parleyctl --server command after command is not held up.
type addressRates struct{ buckets *keyrate.Buckets }

func newAddressRates(perMinute int) *addressRates {
	return &addressRates{buckets: keyrate.New(keyrate.PerMinute(float64(perMinute)), perMinute)}
}

// allow reports whether the address may try a login now.
func (a *addressRates) allow(remoteAddr string, now time.Time) bool {
	return a.buckets.Tokens(hostOf(remoteAddr), now) >= 1
}

// failed takes a token for a failed login.
func (a *addressRates) failed(remoteAddr string, now time.Time) {
	a.buckets.AllowN(hostOf(remoteAddr), 1, now)
}

// Whoami is the answer to login and GET session.
type Whoami struct {
	User  string `json:"user"`
	Admin bool   `json:"admin"`
	// CSRF is the token to send in the X-Parley-CSRF header.
	CSRF   string `json:"csrf"`
	Domain string `json:"domain"`
}

func (h *Handler) whoami(s *session) Whoami {
	return Whoami{User: s.user, Admin: h.isAdmin(s.user), CSRF: s.csrf, Domain: h.cfg.Domain}
}

// login checks a user's password and opens a session: POST login with
// {"user", "password"}. Any account may log in; the routes answer 403 to
// those who are not administrators.
func (h *Handler) login(c *call) (any, error) {
	now := h.cfg.Now()
	if !h.logins.allow(c.r.RemoteAddr, now) {
		h.metrics.logins.WithLabelValues("limited").Inc()
		c.w.Header().Set("Retry-After", "60")
		return nil, &statusError{http.StatusTooManyRequests, "too many failed logins from your address; try again in a minute"}
	}
	var req struct{ User, Password string }
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	refused := func(result string) (any, error) {
		h.logins.failed(c.r.RemoteAddr, now)
		h.metrics.logins.WithLabelValues(result).Inc()
		h.cfg.Logger.Info("admin API login refused", "user", req.User, "address", c.r.RemoteAddr, "result", result)
		return nil, &statusError{http.StatusUnauthorized, "wrong user or password"}
	}
	name, err := h.cfg.Service.Username(req.User)
	if err != nil {
		return refused("refused")
	}
	password, err := auth.PreparePassword(req.Password)
	if err != nil || password == "" {
		return refused("refused")
	}
	if err := h.cfg.Verifier.Verify(c.r.Context(), name, password); err != nil {
		if errors.Is(err, auth.ErrNotAuthorized) {
			return refused("refused")
		}
		h.metrics.logins.WithLabelValues("unavailable").Inc()
		h.cfg.Logger.Error("admin API login: cannot check the password", "user", name, "err", err)
		return nil, &statusError{http.StatusServiceUnavailable, "the password cannot be checked now; try again later"}
	}
	user := name + "@" + h.cfg.Domain
	token, s := h.sessions.start(user, now)
	http.SetCookie(c.w, &http.Cookie{Name: CookieName, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
	who := h.whoami(s)
	if who.Admin {
		h.metrics.logins.WithLabelValues("ok").Inc()
		if err := h.cfg.Service.As(muc.AdminActor(user)).(*bound).record(c.r.Context(), "admin.login", user,
			map[string]any{"address": hostOf(c.r.RemoteAddr)}); err != nil {
			h.sessions.end(token)
			return nil, err
		}
	} else {
		// Counted as a failure: only administrators log in for free.
		h.logins.failed(c.r.RemoteAddr, now)
		h.metrics.logins.WithLabelValues("not_admin").Inc()
	}
	h.cfg.Logger.Info("admin API login", "user", user, "admin", who.Admin, "address", c.r.RemoteAddr)
	return who, nil
}

// logout ends the session and its cookie; anyone logged in may, with
// the session's CSRF token.
func (h *Handler) logout(c *call) (any, error) {
	if s := h.sessions.get(cookieValue(c.r), h.cfg.Now()); s != nil {
		if !s.checkCSRF(c.r.Header.Get(CSRFHeader)) {
			return nil, &statusError{http.StatusForbidden, "missing or wrong CSRF token"}
		}
		h.sessions.end(cookieValue(c.r))
	}
	http.SetCookie(c.w, &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return struct{}{}, nil
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return strings.Trim(host, "[]")
}
