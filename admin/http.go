package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/muc"
	"github.com/parleychat/parley/protocol/auth"
)

// The JSON admin API, served under /admin/api/ on the HTTPS listener only
// (the session cookie is Secure). An administrator logs in with their
// account's password (POST login), checked by the Verifier the XMPP front
// door uses (the stored SCRAM verifiers, or the LDAP directory), and gets
// a session cookie (Secure, HttpOnly, SameSite=Strict, __Host- prefix)
// and a CSRF token bound to the session. Every request that changes
// anything must carry the token in the X-Parley-CSRF header and, when the
// browser says where it comes from, come from this origin (Origin,
// Sec-Fetch-Site). Any account may log in; only the --admins accounts,
// checked on every request, get anything but 403.

// Defaults of HandlerConfig.
const (
	DefaultLoginsPerMinute = 10
	DefaultSessionIdle     = 30 * time.Minute
	DefaultMaxSessions     = 1000
)

// APIPrefix is where the API is served; ConsolePath the console's page.
const (
	APIPrefix   = "/admin/api/"
	ConsolePath = "/admin"
)

// CSRFHeader carries the session's CSRF token; CookieName the session.
const (
	CSRFHeader = "X-Parley-CSRF"
	CookieName = "__Host-parley-admin"
)

// HandlerConfig configures the API and the console.
type HandlerConfig struct {
	Service *Service
	// Domain is the server's domain; Admins the usernames (of Domain)
	// who are administrators.
	Domain string
	Admins []string
	// Verifier checks passwords: auth.StoredVerifier for the stored
	// accounts, or the directory.
	Verifier auth.Verifier
	// LoginsPerMinute paces login attempts per client address (a burst
	// of as many); SessionIdle ends a session unused that long;
	// MaxSessions bounds the sessions kept (the oldest is dropped).
	LoginsPerMinute int
	SessionIdle     time.Duration
	MaxSessions     int
	Registerer      prometheus.Registerer
	Logger          *slog.Logger
	Now             func() time.Time
}

// Handler serves the API and the console.
type Handler struct {
	cfg      HandlerConfig
	admins   atomic.Pointer[[]string] // HandlerConfig.Admins, then SetAdmins
	mux      *http.ServeMux
	sessions *sessions
	logins   *addressRates
	metrics  struct {
		logins  *prometheus.CounterVec
		actions *prometheus.CounterVec
	}
}

// Route is one route of the API: Method and Pattern as http.ServeMux
// takes them (Pattern under APIPrefix). Public routes need no session;
// the others need an administrator's.
type Route struct {
	Method, Pattern string
	Public          bool
	serve           func(h *Handler, c *call) (any, error)
}

// ChangesState reports whether the route's method changes anything (and
// so needs the CSRF token).
func (r Route) ChangesState() bool { return r.Method != http.MethodGet }

// NewHandler returns the API and console handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Service == nil || cfg.Verifier == nil || cfg.Domain == "" {
		return nil, errors.New("admin: a Service, a Verifier and the domain are needed")
	}
	if cfg.LoginsPerMinute <= 0 {
		cfg.LoginsPerMinute = DefaultLoginsPerMinute
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(),
		sessions: newSessions(cfg.SessionIdle, cfg.MaxSessions),
		logins:   newAddressRates(cfg.LoginsPerMinute)}
	h.SetAdmins(cfg.Admins)
	h.metrics.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_admin_logins_total",
		Help: "Logins to the admin API by result: ok (an administrator), not_admin (a valid account that is not one), refused (wrong password), limited (the address failed more than --admin-logins-per-minute), unavailable (the password could not be checked)."},
		[]string{"result"})
	h.metrics.actions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_admin_requests_total",
		Help: "Admin API requests by status class: ok, refused (401, 403, 429), failed (other errors)."},
		[]string{"status"})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{h.metrics.logins, h.metrics.actions,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_admin_sessions", Help: "Admin API sessions open (at most --admin-max-sessions)."},
				func() float64 { return float64(h.sessions.count()) })} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("admin: metrics: %w", err)
			}
		}
	}
	for _, rt := range Routes() {
		h.mux.HandleFunc(rt.Method+" "+APIPrefix+rt.Pattern, func(w http.ResponseWriter, r *http.Request) { h.serve(rt, w, r) })
	}
	h.mux.HandleFunc(APIPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route", "", false)
	})
	registerConsole(h.mux)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// call is one request to a route.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	sess *session
	api  API
}

// decode reads the JSON body into v.
func (c *call) decode(v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &BadRequest{"bad JSON body: " + err.Error()}
	}
	return nil
}

// sameOrigin checks what the browser says of where a request comes from
// (Fetch Metadata, Origin): a request from another site is refused. A
// client that is not a browser says nothing and is judged by its session
// and CSRF token alone.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host {
		return false
	}
	return true
}

func (h *Handler) serve(rt Route, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	status := h.serveRoute(rt, w, r)
	switch {
	case status < 400:
		h.metrics.actions.WithLabelValues("ok").Inc()
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests:
		h.metrics.actions.WithLabelValues("refused").Inc()
	default:
		h.metrics.actions.WithLabelValues("failed").Inc()
	}
}

// serveRoute checks the session, the administrator and the CSRF token,
// runs the route and writes its answer; it returns the status.
func (h *Handler) serveRoute(rt Route, w http.ResponseWriter, r *http.Request) int {
	c := &call{w: w, r: r}
	if rt.ChangesState() && !sameOrigin(r) {
		return writeError(w, http.StatusForbidden, "cross-origin request refused", "", false)
	}
	if !rt.Public {
		c.sess = h.sessions.get(cookieValue(r), h.cfg.Now())
		if c.sess == nil {
			return writeError(w, http.StatusUnauthorized, "log in first", "", false)
		}
		if !h.isAdmin(c.sess.user) {
			return writeError(w, http.StatusForbidden, c.sess.user+" is not an administrator of "+h.cfg.Domain, "", false)
		}
		if rt.ChangesState() && !c.sess.checkCSRF(r.Header.Get(CSRFHeader)) {
			return writeError(w, http.StatusForbidden, "missing or wrong CSRF token", "", false)
		}
		c.api = h.cfg.Service.As(muc.AdminActor(c.sess.user))
	}
	out, err := rt.serve(h, c)
	if err != nil {
		status, msg, field, usage := errorStatus(err)
		if status >= 500 {
			h.cfg.Logger.Error("admin API", "route", rt.Method+" "+rt.Pattern, "err", err)
		}
		return writeError(w, status, msg, field, usage)
	}
	if rt.ChangesState() && c.sess != nil {
		h.cfg.Logger.Info("admin API action", "admin", c.sess.user, "route", rt.Method+" "+rt.Pattern, "path", r.URL.Path)
	}
	if _, streamed := out.(streamed); streamed {
		return http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
	return http.StatusOK
}

// streamed is what a route that wrote its own answer returns.
type streamed struct{}

func (h *Handler) isAdmin(user string) bool {
	local, domain, _ := strings.Cut(user, "@")
	return domain == h.cfg.Domain && slices.Contains(*h.admins.Load(), local)
}

// SetAdmins replaces the administrators (HandlerConfig.Admins) from the
// next request on (parleyd's reload): a session of one taken off the list
// gets 403 on its next call.
func (h *Handler) SetAdmins(users []string) {
	users = slices.Clone(users)
	h.admins.Store(&users)
}

// apiError is the body of an error answer.
type apiError struct {
	Error string `json:"error"`
	// Field names the request field at fault; Usage says the request
	// can never succeed as it is (parleyctl's usage error).
	Field string `json:"field,omitempty"`
	Usage bool   `json:"usage,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg, field string, usage bool) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{Error: msg, Field: field, Usage: usage})
	return status
}

// statusError is an answer of the API itself (login, session) with its
// status.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// errorStatus maps an operation's error to its HTTP status, message and
// field: refusals by the room engine by their code.
func errorStatus(err error) (status int, msg, field string, usage bool) {
	var se *statusError
	if errors.As(err, &se) {
		return se.status, se.msg, "", false
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		field, err = fe.Field, fe.Err
	}
	var br *BadRequest
	if errors.As(err, &br) {
		return http.StatusBadRequest, br.Msg, field, true
	}
	if field != "" {
		return http.StatusBadRequest, err.Error(), field, false
	}
	var refusal *muc.Error
	if errors.As(err, &refusal) {
		msg = refusal.Reason
		if msg == "" {
			msg = err.Error()
		}
		switch refusal.Code {
		case muc.CodeNotFound:
			return http.StatusNotFound, msg, "", false
		case muc.CodeBadRequest, muc.CodeNotAcceptable:
			return http.StatusBadRequest, msg, "", false
		case muc.CodeResourceConstraint:
			return http.StatusTooManyRequests, msg, "", false
		case muc.CodeServiceUnavailable:
			return http.StatusServiceUnavailable, msg, "", false
		}
		return http.StatusConflict, msg, "", false
	}
	switch {
	case errors.Is(err, ErrNoUser):
		return http.StatusNotFound, err.Error(), "", false
	case errors.Is(err, ErrUserExists):
		return http.StatusConflict, err.Error(), "", false
	case errors.Is(err, ErrNoNode), errors.Is(err, ErrNoPool):
		return http.StatusNotImplemented, err.Error(), "", false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, err.Error(), "", false
	}
	return http.StatusInternalServerError, err.Error(), "", false
}

func cookieValue(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

// Routes is the API, in the order the console uses it. Tests walk it
// (every route but the public ones answers 403 to a non-administrator).
func Routes() []Route {
	return []Route{
		{Method: "POST", Pattern: "login", Public: true, serve: (*Handler).login},
		{Method: "POST", Pattern: "logout", Public: true, serve: (*Handler).logout},
		{Method: "GET", Pattern: "session", serve: func(h *Handler, c *call) (any, error) { return h.whoami(c.sess), nil }},

		{Method: "GET", Pattern: "users", serve: func(h *Handler, c *call) (any, error) { return c.api.Users(c.r.Context()) }},
		{Method: "POST", Pattern: "users", serve: func(h *Handler, c *call) (any, error) {
			var req struct{ Name, Password string }
			if err := c.decode(&req); err != nil {
				return nil, err
			}
			return c.api.AddUser(c.r.Context(), req.Name, req.Password)
		}},
		{Method: "POST", Pattern: "users/{name}/password", serve: func(h *Handler, c *call) (any, error) {
			var req struct{ Password string }
			if err := c.decode(&req); err != nil {
				return nil, err
			}
			return c.api.SetPassword(c.r.Context(), c.r.PathValue("name"), req.Password)
		}},
		{Method: "POST", Pattern: "users/{name}/sip-password", serve: func(h *Handler, c *call) (any, error) {
			var req struct{ Password string }
			if err := c.decode(&req); err != nil {
				return nil, err
			}
			return c.api.SetSIPPassword(c.r.Context(), c.r.PathValue("name"), req.Password)
		}},
		{Method: "POST", Pattern: "users/{name}/disable", serve: func(h *Handler, c *call) (any, error) {
			return c.api.DisableUser(c.r.Context(), c.r.PathValue("name"))
		}},
		{Method: "POST", Pattern: "users/{name}/kick", serve: func(h *Handler, c *call) (any, error) {
			n, err := c.api.Kick(c.r.Context(), c.r.PathValue("name"))
			return map[string]int{"sessions_ended": n}, err
		}},
		{Method: "DELETE", Pattern: "users/{name}", serve: func(h *Handler, c *call) (any, error) {
			return c.api.DeleteUser(c.r.Context(), c.r.PathValue("name"))
		}},
		{Method: "GET", Pattern: "sessions", serve: func(h *Handler, c *call) (any, error) { return c.api.Sessions(c.r.Context()) }},

		{Method: "GET", Pattern: "categories", serve: func(h *Handler, c *call) (any, error) { return c.api.Categories(c.r.Context()) }},
		{Method: "POST", Pattern: "categories", serve: func(h *Handler, c *call) (any, error) {
			var req struct {
				Name string
				CategoryChange
			}
			if err := c.decode(&req); err != nil {
				return nil, err
			}
			return c.api.AddCategory(c.r.Context(), req.Name, req.CategoryChange)
		}},
		{Method: "GET", Pattern: "categories/{name}", serve: func(h *Handler, c *call) (any, error) {
			return c.api.Category(c.r.Context(), c.r.PathValue("name"))
		}},
		{Method: "PATCH", Pattern: "categories/{name}", serve: func(h *Handler, c *call) (any, error) {
			var ch CategoryChange
			if err := c.decode(&ch); err != nil {
				return nil, err
			}
			return c.api.SetCategory(c.r.Context(), c.r.PathValue("name"), ch)
		}},
		{Method: "DELETE", Pattern: "categories/{name}", serve: func(h *Handler, c *call) (any, error) {
			return struct{}{}, c.api.DeleteCategory(c.r.Context(), c.r.PathValue("name"))
		}},

		{Method: "GET", Pattern: "rooms", serve: func(h *Handler, c *call) (any, error) {
			return c.api.Rooms(c.r.Context(), c.r.URL.Query().Get("category"))
		}},
		{Method: "POST", Pattern: "rooms", serve: func(h *Handler, c *call) (any, error) {
			var spec RoomSpec
			if err := c.decode(&spec); err != nil {
				return nil, err
			}
			return c.api.CreateRoom(c.r.Context(), spec)
		}},
		{Method: "GET", Pattern: "rooms/{name}", serve: func(h *Handler, c *call) (any, error) {
			return c.api.Room(c.r.Context(), c.r.PathValue("name"))
		}},
		{Method: "PATCH", Pattern: "rooms/{name}", serve: func(h *Handler, c *call) (any, error) {
			var ch RoomChange
			if err := c.decode(&ch); err != nil {
				return nil, err
			}
			return c.api.SetRoom(c.r.Context(), c.r.PathValue("name"), ch)
		}},
		{Method: "POST", Pattern: "rooms/{name}/disable", serve: func(h *Handler, c *call) (any, error) {
			return c.api.SetRoomDisabled(c.r.Context(), c.r.PathValue("name"), true)
		}},
		{Method: "POST", Pattern: "rooms/{name}/enable", serve: func(h *Handler, c *call) (any, error) {
			return c.api.SetRoomDisabled(c.r.Context(), c.r.PathValue("name"), false)
		}},
		{Method: "DELETE", Pattern: "rooms/{name}", serve: func(h *Handler, c *call) (any, error) {
			return struct{}{}, c.api.DeleteRoom(c.r.Context(), c.r.PathValue("name"), c.r.URL.Query().Get("reason"))
		}},
		{Method: "POST", Pattern: "rooms/{name}/places/{list}", serve: func(h *Handler, c *call) (any, error) {
			var req struct {
				Add   bool
				Users []string
			}
			if err := c.decode(&req); err != nil {
				return nil, err
			}
			return c.api.ChangePlaces(c.r.Context(), c.r.PathValue("name"), Place(c.r.PathValue("list")), req.Add, req.Users)
		}},
		{Method: "POST", Pattern: "rooms/{name}/clear", serve: func(h *Handler, c *call) (any, error) {
			var req struct{ Before time.Time }
			if err := c.decode(&req); err != nil {
				return nil, err
			}
			n, err := c.api.ClearRoom(c.r.Context(), c.r.PathValue("name"), req.Before)
			return map[string]int{"deleted": n}, err
		}},
		{Method: "POST", Pattern: "rooms/{name}/messages/{id}/remove", serve: func(h *Handler, c *call) (any, error) {
			var req struct{ Text string }
			if err := c.decode(&req); err != nil {
				return nil, err
			}
			return struct{}{}, c.api.RemoveMessage(c.r.Context(), c.r.PathValue("name"), c.r.PathValue("id"), req.Text)
		}},

		{Method: "GET", Pattern: "compliance/status", serve: func(h *Handler, c *call) (any, error) { return c.api.ComplianceStatus(c.r.Context()) }},
		{Method: "GET", Pattern: "compliance/holds", serve: func(h *Handler, c *call) (any, error) { return c.api.Holds(c.r.Context()) }},
		{Method: "POST", Pattern: "compliance/holds", serve: func(h *Handler, c *call) (any, error) {
			var t HoldTarget
			if err := c.decode(&t); err != nil {
				return nil, err
			}
			return c.api.AddHold(c.r.Context(), t)
		}},
		{Method: "POST", Pattern: "compliance/holds/remove", serve: func(h *Handler, c *call) (any, error) {
			var t HoldTarget
			if err := c.decode(&t); err != nil {
				return nil, err
			}
			return c.api.RemoveHold(c.r.Context(), t)
		}},
		{Method: "POST", Pattern: "compliance/export", serve: (*Handler).export},

		{Method: "GET", Pattern: "pool", serve: func(h *Handler, c *call) (any, error) { return c.api.PoolStatus(c.r.Context()) }},
		{Method: "GET", Pattern: "metrics", serve: func(h *Handler, c *call) (any, error) { return c.api.Metrics(c.r.Context()) }},
	}
}

// export streams a compliance export as a download. The summary comes
// in trailers (X-Parley-Export-Events, -Rooms), once it is known.
func (h *Handler) export(c *call) (any, error) {
	var q ExportQuery
	if err := c.decode(&q); err != nil {
		return nil, err
	}
	if err := q.Check(); err != nil {
		return nil, err
	}
	w := &writeCounter{ResponseWriter: c.w}
	ext := map[string]string{"xml": "xml", "json": "jsonl"}[q.Format]
	w.Header().Set("Content-Type", map[string]string{"xml": "application/xml", "json": "application/x-ndjson"}[q.Format])
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="compliance-%s.%s"`, q.From.UTC().Format("20060102T150405Z"), ext))
	w.Header().Set("Trailer", "X-Parley-Export-Events, X-Parley-Export-Rooms, X-Parley-Export-Error")
	sum, err := c.api.Export(c.r.Context(), q, w, nil)
	if err != nil {
		if w.n == 0 {
			// Nothing written yet: an ordinary error answer.
			for _, k := range []string{"Trailer", "Content-Disposition"} {
				w.Header().Del(k)
			}
			return nil, err
		}
		w.Header().Set("X-Parley-Export-Error", strings.Join(strings.Fields(err.Error()), " "))
		return streamed{}, nil
	}
	w.Header().Set("X-Parley-Export-Events", strconv.FormatInt(sum.Events, 10))
	w.Header().Set("X-Parley-Export-Rooms", strconv.Itoa(sum.Rooms))
	return streamed{}, nil
}

// writeCounter counts what was written to a response.
type writeCounter struct {
	http.ResponseWriter
	n int64
}

func (w *writeCounter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}
