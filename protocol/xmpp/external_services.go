package xmpp

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// External service discovery (XEP-0215): the STUN and TURN servers the
// operator configured (Config.ExternalServices, RFC 7064/7065 URIs), for
// clients' audio and video calls. With Config.ExternalServiceSecret, TURN
// entries carry short-lived credentials derived from it the way TURN
// servers' shared-secret REST mechanism expects (coturn's
// static-auth-secret: username "EXPIRY:USER", password
// base64(HMAC-SHA1(secret, username))). Only this server's users ask.

const nsExtDisco = "urn:xmpp:extdisco:2"

// externalCredentialTTL is how long the TURN credentials given out last.
const externalCredentialTTL = 24 * time.Hour

// An externalService is one configured STUN or TURN server.
type externalService struct {
	typ, host, transport string
	port                 int
}

// parseExternalService reads stun:HOST[:PORT], turn:HOST[:PORT] or
// turns:HOST[:PORT], each optionally with ?transport=udp|tcp.
func parseExternalService(s string) (externalService, error) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok || (typ != "stun" && typ != "stuns" && typ != "turn" && typ != "turns") {
		return externalService{}, fmt.Errorf("external service %q: want stun:, stuns:, turn: or turns:HOST[:PORT][?transport=udp|tcp]", s)
	}
	hostport, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return externalService{}, fmt.Errorf("external service %q: %v", s, err)
	}
	e := externalService{typ: typ, host: hostport, transport: q.Get("transport")}
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return externalService{}, fmt.Errorf("external service %q: bad port", s)
		}
		e.host, e.port = h, n
	}
	switch {
	case e.host == "":
		return externalService{}, fmt.Errorf("external service %q: no host", s)
	case e.transport != "" && e.transport != "udp" && e.transport != "tcp":
		return externalService{}, fmt.Errorf("external service %q: transport is udp or tcp", s)
	}
	return e, nil
}

// CheckExternalService reports whether s is an external service URI
// Config.ExternalServices takes.
func CheckExternalService(s string) error {
	_, err := parseExternalService(s)
	return err
}

func (s *Server) registerExternalServices() {
	if len(s.cfg.ExternalServices) == 0 {
		return
	}
	var services []externalService
	for _, v := range s.cfg.ExternalServices {
		e, err := parseExternalService(v)
		if err != nil {
			s.mux.errs = append(s.mux.errs, fmt.Errorf("xmpp: %w", err))
			return
		}
		services = append(services, e)
	}
	answer := func(_ context.Context, r *request) (*Element, error) {
		return s.externalServices(r, services, time.Now())
	}
	s.mux.iq(toServer, "get", nsExtDisco, "services", answer, advertise(nsExtDisco), localOnly)
	s.mux.iq(toServer, "get", nsExtDisco, "credentials", answer, advertise(nsExtDisco), localOnly)
}

// externalServices answers §3.2 (services, optionally of one type) and
// §3.3 (credentials for one host and type).
func (s *Server) externalServices(r *request, services []externalService, now time.Time) (*Element, error) {
	q := r.payload
	wantType, wantHost := q.AttrValue("type"), ""
	if q.Name.Local == "credentials" {
		sv := q.Child(nsExtDisco, "service")
		if sv == nil {
			return nil, errBadRequest("ask for one service")
		}
		wantType, wantHost = sv.AttrValue("type"), sv.AttrValue("host")
	}
	out := NewElement(nsExtDisco, q.Name.Local)
	if q.Name.Local == "services" && wantType != "" {
		out.SetAttr("type", wantType)
	}
	for _, e := range services {
		if (wantType != "" && e.typ != wantType) || (wantHost != "" && e.host != wantHost) {
			continue
		}
		el := NewElement(nsExtDisco, "service", "type", e.typ, "host", e.host)
		if e.port > 0 {
			el.SetAttr("port", strconv.Itoa(e.port))
		}
		if e.transport != "" {
			el.SetAttr("transport", e.transport)
		}
		if secret := s.cfg.ExternalServiceSecret; secret != "" && strings.HasPrefix(e.typ, "turn") {
			expires := now.Add(externalCredentialTTL).UTC()
			user := strconv.FormatInt(expires.Unix(), 10) + ":" + r.from.bareJID()
			mac := hmac.New(sha1.New, []byte(secret))
			mac.Write([]byte(user))
			el.SetAttr("username", user)
			el.SetAttr("password", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
			el.SetAttr("expires", expires.Format(time.RFC3339))
			el.SetAttr("restricted", "1")
		}
		out.Append(el)
	}
	if q.Name.Local == "credentials" && len(out.Elements()) == 0 {
		return nil, errItemNotFound("no such service")
	}
	return out, nil
}
