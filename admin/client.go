package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/compliance"
	"github.com/parleychat/parley/storage"
)

// Client is the API of a running node, over HTTPS: parleyctl --server
// URL. It logs in as an administrator (Dial) and keeps the session's
// cookie and CSRF token; Close logs out.
type Client struct {
	base   *url.URL
	http   *http.Client
	csrf   string
	Whoami Whoami
}

// ClientOptions are how a Client reaches the node.
type ClientOptions struct {
	// CAFile is a PEM file of certificates to trust for the node's
	// (its self-signed one: DATA/tls/cert.pem on the node); empty trusts
	// the system's.
	CAFile  string
	Timeout time.Duration // per request; 0 means a minute
}

// Dial logs in to the admin API at server (https://HOST:PORT, the node's
// --https) as user with password, and checks the user is an
// administrator.
func Dial(ctx context.Context, server, user, password string, opt ClientOptions) (*Client, error) {
	base, err := url.Parse(strings.TrimSpace(server))
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, &BadRequest{fmt.Sprintf("--server: want https://HOST[:PORT] (the node's --https), not %q", server)}
	}
	base.Path = APIPrefix
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if opt.CAFile != "" {
		pem, err := os.ReadFile(opt.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--server-ca: %w", err)
		}
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--server-ca %s: no PEM certificate in it", opt.CAFile)
		}
	}
	if opt.Timeout <= 0 {
		opt.Timeout = time.Minute
	}
	jar, _ := cookiejar.New(nil)
	c := &Client{base: base, http: &http.Client{Jar: jar, Timeout: opt.Timeout,
		Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}}}
	if err := c.do(ctx, "POST", "login", map[string]string{"user": user, "password": password}, &c.Whoami); err != nil {
		return nil, fmt.Errorf("logging in to %s as %s: %w", server, user, err)
	}
	c.csrf = c.Whoami.CSRF
	if !c.Whoami.Admin {
		c.Close(ctx)
		return nil, fmt.Errorf("%s is not an administrator of %s (--admins)", c.Whoami.User, c.Whoami.Domain)
	}
	return c, nil
}

// Close logs out.
func (c *Client) Close(ctx context.Context) error { return c.do(ctx, "POST", "logout", nil, nil) }

// request sends one API request; the caller closes the answer's body.
func (c *Client) request(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.JoinPath(path).String(), body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set(CSRFHeader, c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, answerError(resp)
	}
	return resp, nil
}

// answerError turns an error answer back into the error the Service
// returned: a BadRequest, a FieldError, or the message.
func answerError(resp *http.Response) error {
	var e apiError
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e); err != nil || e.Error == "" {
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	var err error = errors.New(e.Error)
	switch resp.StatusCode {
	case http.StatusNotFound:
		if e.Error == ErrNoUser.Error() {
			err = ErrNoUser
		}
	case http.StatusConflict:
		if e.Error == ErrUserExists.Error() {
			err = ErrUserExists
		}
	}
	if e.Usage {
		err = &BadRequest{Msg: e.Error}
	}
	if e.Field != "" {
		err = &FieldError{Field: e.Field, Err: err}
	}
	return err
}

// do sends a request and decodes its JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the server's answer: %w", err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

func (c *Client) AddUser(ctx context.Context, name, password string) (u User, err error) {
	return u, c.do(ctx, "POST", "users", map[string]string{"name": name, "password": password}, &u)
}
func (c *Client) Users(ctx context.Context) (us []User, err error) {
	return us, c.do(ctx, "GET", "users", nil, &us)
}
func (c *Client) SetPassword(ctx context.Context, name, password string) (u User, err error) {
	return u, c.do(ctx, "POST", "users/"+esc(name)+"/password", map[string]string{"password": password}, &u)
}
func (c *Client) SetSIPPassword(ctx context.Context, name, password string) (u User, err error) {
	return u, c.do(ctx, "POST", "users/"+esc(name)+"/sip-password", map[string]string{"password": password}, &u)
}
func (c *Client) DisableUser(ctx context.Context, name string) (u User, err error) {
	return u, c.do(ctx, "POST", "users/"+esc(name)+"/disable", nil, &u)
}
func (c *Client) DeleteUser(ctx context.Context, name string) (u User, err error) {
	return u, c.do(ctx, "DELETE", "users/"+esc(name), nil, &u)
}
func (c *Client) Sessions(ctx context.Context) (ss []Session, err error) {
	return ss, c.do(ctx, "GET", "sessions", nil, &ss)
}
func (c *Client) Kick(ctx context.Context, name string) (int, error) {
	var out struct {
		N int `json:"sessions_ended"`
	}
	err := c.do(ctx, "POST", "users/"+esc(name)+"/kick", nil, &out)
	return out.N, err
}

func (c *Client) AddCategory(ctx context.Context, name string, ch CategoryChange) (cat storage.Category, err error) {
	in := struct {
		Name string `json:"name"`
		CategoryChange
	}{name, ch}
	return cat, c.do(ctx, "POST", "categories", in, &cat)
}
func (c *Client) SetCategory(ctx context.Context, name string, ch CategoryChange) (cat storage.Category, err error) {
	return cat, c.do(ctx, "PATCH", "categories/"+esc(name), ch, &cat)
}
func (c *Client) Categories(ctx context.Context) (cs []CategoryInfo, err error) {
	return cs, c.do(ctx, "GET", "categories", nil, &cs)
}
func (c *Client) Category(ctx context.Context, name string) (ci CategoryInfo, err error) {
	return ci, c.do(ctx, "GET", "categories/"+esc(name), nil, &ci)
}
func (c *Client) DeleteCategory(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "categories/"+esc(name), nil, nil)
}

func (c *Client) CreateRoom(ctx context.Context, spec RoomSpec) (r RoomInfo, err error) {
	return r, c.do(ctx, "POST", "rooms", spec, &r)
}
func (c *Client) Rooms(ctx context.Context, category string) (rs []RoomInfo, err error) {
	path := "rooms"
	if category != "" {
		path += "?category=" + url.QueryEscape(category)
	}
	return rs, c.do(ctx, "GET", path, nil, &rs)
}
func (c *Client) Room(ctx context.Context, name string) (r RoomInfo, err error) {
	return r, c.do(ctx, "GET", "rooms/"+esc(name), nil, &r)
}
func (c *Client) SetRoom(ctx context.Context, name string, ch RoomChange) (r RoomInfo, err error) {
	return r, c.do(ctx, "PATCH", "rooms/"+esc(name), ch, &r)
}
func (c *Client) SetRoomDisabled(ctx context.Context, name string, disabled bool) (r RoomInfo, err error) {
	op := "/enable"
	if disabled {
		op = "/disable"
	}
	return r, c.do(ctx, "POST", "rooms/"+esc(name)+op, nil, &r)
}
func (c *Client) DeleteRoom(ctx context.Context, name, reason string) error {
	return c.do(ctx, "DELETE", "rooms/"+esc(name)+"?reason="+url.QueryEscape(reason), nil, nil)
}
func (c *Client) ChangePlaces(ctx context.Context, room string, list Place, add bool, users []string) (rs []PlaceResult, err error) {
	in := struct {
		Add   bool     `json:"add"`
		Users []string `json:"users"`
	}{add, users}
	return rs, c.do(ctx, "POST", "rooms/"+esc(room)+"/places/"+esc(string(list)), in, &rs)
}
func (c *Client) ClearRoom(ctx context.Context, room string, before time.Time) (int, error) {
	var out struct {
		N int `json:"deleted"`
	}
	err := c.do(ctx, "POST", "rooms/"+esc(room)+"/clear", map[string]time.Time{"before": before}, &out)
	return out.N, err
}
func (c *Client) RemoveMessage(ctx context.Context, room, stanzaID, text string) error {
	return c.do(ctx, "POST", "rooms/"+esc(room)+"/messages/"+esc(stanzaID)+"/remove", map[string]string{"text": text}, nil)
}

func (c *Client) ComplianceStatus(ctx context.Context) (st ComplianceStatus, err error) {
	return st, c.do(ctx, "GET", "compliance/status", nil, &st)
}
func (c *Client) AddHold(ctx context.Context, h HoldTarget) (hold storage.Hold, err error) {
	return hold, c.do(ctx, "POST", "compliance/holds", h, &hold)
}
func (c *Client) RemoveHold(ctx context.Context, h HoldTarget) (hold storage.Hold, err error) {
	return hold, c.do(ctx, "POST", "compliance/holds/remove", h, &hold)
}
func (c *Client) Holds(ctx context.Context) (hs []storage.Hold, err error) {
	return hs, c.do(ctx, "GET", "compliance/holds", nil, &hs)
}

// Export streams the node's export into w; the summary's events and rooms
// come from the answer's trailers. progress is not reported.
func (c *Client) Export(ctx context.Context, q ExportQuery, w io.Writer, _ func(done, total int64)) (compliance.ExportSummary, error) {
	began := time.Now()
	if err := q.Check(); err != nil {
		return compliance.ExportSummary{}, err
	}
	resp, err := c.request(ctx, "POST", "compliance/export", q)
	if err != nil {
		return compliance.ExportSummary{}, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	sum := compliance.ExportSummary{Bytes: n, Duration: time.Since(began)}
	if err != nil {
		return sum, fmt.Errorf("receiving the export: %w", err)
	}
	if msg := resp.Trailer.Get("X-Parley-Export-Error"); msg != "" {
		return sum, fmt.Errorf("the export failed on the server: %s", msg)
	}
	events := resp.Trailer.Get("X-Parley-Export-Events")
	if events == "" {
		return sum, errors.New("the export ended without its summary: incomplete")
	}
	sum.Events, _ = strconv.ParseInt(events, 10, 64)
	sum.Rooms, _ = strconv.Atoi(resp.Trailer.Get("X-Parley-Export-Rooms"))
	return sum, nil
}

func (c *Client) PoolStatus(ctx context.Context) (ns []PoolNode, err error) {
	return ns, c.do(ctx, "GET", "pool", nil, &ns)
}
func (c *Client) Metrics(ctx context.Context) (m Metrics, err error) {
	return m, c.do(ctx, "GET", "metrics", nil, &m)
}

var _ API = (*Client)(nil)
