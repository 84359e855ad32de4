package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdg-go/scram"
)

// The logins command measures what a login costs the server, three ways,
// each as a storm of --rate logins a second:
//
//   - full: a new TLS handshake (ECDHE and the server's certificate
//     signature) and SASL2 SCRAM-SHA-256 with Bind2;
//   - resume: TLS resumed from the ticket of an earlier connection (RFC
//     8446 §2.2: no certificate, no signature) and SASL2 SCRAM-SHA-256;
//   - fast: TLS resumed and SASL2 with a FAST token (XEP-0484,
//     HT-SHA-256-NONE: one round trip, no PBKDF2 anywhere).
//
// Every kind logs in over SASL2 (XEP-0388) with Bind2 (XEP-0386), the
// one-round-trip login of phones, so that the three differ only in what
// is measured. A login is done when the bound stream's features arrive.
//
// Before each storm every user logs in once, unmeasured: that fetches the
// TLS ticket and the FAST token a returning client holds, and derives the
// SCRAM keys of its password, which the bench then keeps (as clients do:
// a client that stored its salted password does no PBKDF2 on reconnect).
// The server stores only SCRAM's derived keys (auth.DefaultIterations of
// PBKDF2 when the password was set), so neither side runs PBKDF2 during
// the storms and the bench's CPU goes to TLS and XML, as the server's.

// loginsOptions are the settings of the logins command.
type loginsOptions struct {
	loginOptions
	Count int
	Kinds []string
	// StormRate is the logins started per second in each storm (open
	// loop: they start on time whether or not earlier ones are done,
	// up to MaxInFlight under way).
	StormRate float64
	PID       int
	// Hold keeps the storm's sessions open until the storm ends (a
	// storm of users coming back); without it each closes once logged in.
	Hold bool
}

var loginKinds = []string{"full", "resume", "fast"}

// LoginsReport is the result of the logins command.
type LoginsReport struct {
	Command string            `json:"command"`
	Addr    string            `json:"addr"`
	Users   string            `json:"users"`
	Rate    float64           `json:"rate"`
	Kinds   []LoginKindReport `json:"kinds"`
}

// LoginKindReport is one storm.
type LoginKindReport struct {
	Kind      string `json:"kind"`
	Attempted int    `json:"attempted"`
	OK        int    `json:"ok"`
	// Resumed counts the logins whose TLS handshake resumed a session.
	Resumed  int            `json:"tls_resumed"`
	Failures map[string]int `json:"failures"`
	// PerSecond is the logins completed over the storm's wall time, from
	// the first start to the last completion.
	PerSecond float64 `json:"logins_per_second"`
	Latency   Summary `json:"latency_ms"`
	// TLS and Auth split the latency: connect and STARTTLS, then SASL2
	// with Bind2 until the features.
	TLS  Summary `json:"tls_ms"`
	Auth Summary `json:"auth_ms"`
	// Server is the server's usage over the storm; CPUPerLogin its CPU
	// time per login completed, and LoginsPerCore the logins one core
	// would do at that cost.
	Server          *ServerUsage `json:"server,omitempty"`
	CPUPerLoginMS   float64      `json:"server_cpu_per_login_ms,omitempty"`
	LoginsPerCore   float64      `json:"logins_per_core_second,omitempty"`
	BenchCPUPercent float64      `json:"bench_cpu_percent"`
}

// loginUser is what one returning user keeps between logins.
type loginUser struct {
	name   string
	scram  *scram.Client // keeps the derived keys of the password
	agent  string        // the SASL2 user-agent id (FAST tokens are per device)
	tls    tls.ClientSessionCache
	token  string
	count  int // XEP-0484 §3.4: grows with every FAST login
	client *Client
}

func runLogins(ctx context.Context, log *slog.Logger, o loginsOptions) (*LoginsReport, error) {
	if o.Count <= 0 || o.StormRate <= 0 {
		return nil, fmt.Errorf("--count and --rate must be positive")
	}
	for _, k := range o.Kinds {
		if !strings.Contains(" "+strings.Join(loginKinds, " ")+" ", " "+k+" ") {
			return nil, fmt.Errorf("unknown login kind %q (want %s)", k, strings.Join(loginKinds, ", "))
		}
	}
	if err := checkFDs(o.Count); err != nil {
		return nil, err
	}
	r := &LoginsReport{Command: "logins", Addr: o.Addr, Users: userRange(o.Prefix, o.Offset, o.Count), Rate: o.StormRate}
	users := make([]*loginUser, o.Count)
	for i := range users {
		name := fmt.Sprintf("%s%d", o.Prefix, o.Offset+i)
		sc, err := scram.SHA256.NewClient(name, o.Password, "")
		if err != nil {
			return nil, fmt.Errorf("SCRAM client: %w", err)
		}
		users[i] = &loginUser{name: name, scram: sc, agent: fmt.Sprintf("parley-bench-%08x-%d", os.Getpid(), o.Offset+i)}
	}
	for _, kind := range o.Kinds {
		// Prepare: one unmeasured login each, for the ticket, the token
		// and the derived keys.
		log.Info("preparing", "kind", kind, "users", o.Count)
		prep := o
		prep.StormRate = 0
		pr := storm(ctx, log, prep, users, "prepare-"+kind)
		if pr.OK != o.Count {
			return r, fmt.Errorf("preparing %s: %d of %d logged in; failures: %s", kind, pr.OK, o.Count, formatCounts(pr.Failures))
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		time.Sleep(time.Second) // let the server settle
		log.Info("storm", "kind", kind, "rate", o.StormRate, "users", o.Count)
		kr := storm(ctx, log, o, users, kind)
		log.Info("storm done", "kind", kind, "ok", kr.OK, "logins/s", kr.PerSecond, "p99_ms", kr.Latency.P99)
		r.Kinds = append(r.Kinds, kr)
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
	}
	return r, nil
}

// storm logs every user in once, as kind says, at o.StormRate (0: as
// fast as o.MaxInFlight allows), and closes the sessions at the end (or
// each at once without o.Hold). A kind "prepare-K" prepares for K.
func storm(ctx context.Context, log *slog.Logger, o loginsOptions, users []*loginUser, kind string) LoginKindReport {
	rep := LoginKindReport{Kind: kind, Failures: map[string]int{}}
	var (
		mu           sync.Mutex
		total, tlsT  []time.Duration
		authT        []time.Duration
		wg           sync.WaitGroup
		ok, resumed  atomic.Int64
		lastDone     atomic.Int64
		sem          = make(chan struct{}, max(o.MaxInFlight, 1))
		start        = time.Now()
		before, self ProcSample
	)
	if o.PID != 0 {
		before, _ = sampleProc(o.PID)
	}
	self, _ = sampleProc(os.Getpid())
	for i, u := range users {
		if o.StormRate > 0 {
			if !sleepUntil(ctx, start.Add(time.Duration(float64(i)/o.StormRate*float64(time.Second)))) {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		rep.Attempted++
		wg.Go(func() {
			defer func() { <-sem }()
			t0 := time.Now()
			c, tlsDone, err := loginSASL2(ctx, o.loginOptions, u, kind, o.Sources.pick(i))
			end := time.Now()
			if err != nil {
				mu.Lock()
				rep.Failures[failureReason(err)]++
				mu.Unlock()
				log.Debug("login failed", "user", u.name, "kind", kind, "err", err)
				return
			}
			ok.Add(1)
			if c.Resumed {
				resumed.Add(1)
			}
			for {
				last := lastDone.Load()
				if end.UnixNano() <= last || lastDone.CompareAndSwap(last, end.UnixNano()) {
					break
				}
			}
			mu.Lock()
			total = append(total, end.Sub(t0))
			tlsT = append(tlsT, tlsDone.Sub(t0))
			authT = append(authT, end.Sub(tlsDone))
			mu.Unlock()
			if o.Hold && !strings.HasPrefix(kind, "prepare-") {
				u.client = c
			} else {
				c.Close()
			}
		})
	}
	wg.Wait()
	wall := time.Duration(lastDone.Load() - start.UnixNano())
	if o.PID != 0 {
		if after, err := sampleProc(o.PID); err == nil {
			rep.Server = serverUsage(o.PID, before, after, time.Since(start))
		}
	}
	if after, err := sampleProc(os.Getpid()); err == nil && wall > 0 {
		rep.BenchCPUPercent = round(100*(after.CPU-self.CPU).Seconds()/time.Since(start).Seconds(), 1)
	}
	for _, u := range users {
		if u.client != nil {
			u.client.Close()
			u.client = nil
		}
	}
	rep.OK, rep.Resumed = int(ok.Load()), int(resumed.Load())
	if wall > 0 {
		rep.PerSecond = round(float64(rep.OK)/wall.Seconds(), 1)
	}
	rep.Latency, rep.TLS, rep.Auth = summarize(total), summarize(tlsT), summarize(authT)
	if rep.Server != nil && rep.OK > 0 {
		rep.CPUPerLoginMS = round(1000*rep.Server.CPUSeconds/float64(rep.OK), 3)
		if rep.CPUPerLoginMS > 0 {
			rep.LoginsPerCore = round(1000/rep.CPUPerLoginMS, 0)
		}
	}
	return rep
}

// loginSASL2 logs u in over SASL2 with Bind2 (XEP-0388, XEP-0386) as kind
// says and returns the client once the bound stream's features arrived,
// with when the TLS handshake ended. The kinds prepare-K log in with the
// password on a full handshake, keep the TLS ticket (prepare-resume,
// prepare-fast) and ask for a FAST token (prepare-fast).
func loginSASL2(ctx context.Context, o loginOptions, u *loginUser, kind string, source net.IP) (*Client, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cfg := ClientConfig{Addr: o.Addr, Domain: o.Domain, Username: u.name, Timeout: o.Timeout, WriteTimeout: o.WriteTimeout, Source: source}
	switch kind {
	case "prepare-resume", "prepare-fast":
		// A fresh ticket cache: the next login resumes this session.
		u.tls = tls.NewLRUClientSessionCache(1)
		cfg.TLSSessions = u.tls
	case "resume", "fast":
		cfg.TLSSessions = u.tls
	}
	c := &Client{cfg: cfg}
	raw, err := dial(ctx, cfg)
	if err != nil {
		return nil, time.Time{}, &phaseError{phase: phaseConnect, err: err}
	}
	c.raw, c.conn = raw, raw
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(phase int, err error) (*Client, time.Time, error) {
		c.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, time.Time{}, &phaseError{phase: phase, err: err}
	}
	if err := c.startTLS(ctx, false); err != nil {
		return fail(phaseStartTLS, err)
	}
	tlsDone := time.Now()
	f, err := c.openStream()
	if err != nil {
		return fail(phaseAuth, err)
	}
	if f.child(nsSASL2, "authentication") == nil {
		return fail(phaseAuth, errors.New("server does not offer SASL2"))
	}
	inline := "<user-agent id='" + escape(u.agent) + "'><software>parley-bench</software></user-agent>" +
		"<bind xmlns='" + nsBind2 + "'><tag>bench</tag></bind>"
	if err := c.sasl2(u, kind, inline); err != nil {
		return fail(phaseAuth, err)
	}
	// The stream is not restarted: the bound stream's features follow.
	if _, err := c.Next(); err != nil {
		return fail(phaseBind, fmt.Errorf("reading the features after SASL2: %w", err))
	}
	if !stop() {
		return fail(phaseBind, ctx.Err())
	}
	_ = raw.SetDeadline(time.Time{})
	c.JID = u.name + "@" + o.Domain
	return c, tlsDone, nil
}

const (
	nsSASL2 = "urn:xmpp:sasl:2"
	nsBind2 = "urn:xmpp:bind:0"
	nsFAST  = "urn:xmpp:fast:0"
)

// sasl2 runs the SASL2 exchange: SCRAM-SHA-256 with the derived keys u
// keeps (asking for a FAST token when kind is prepare-fast), or
// HT-SHA-256-NONE with u's token (kind fast).
func (c *Client) sasl2(u *loginUser, kind, inline string) error {
	var mech string
	var initial []byte
	var step func([]byte) ([]byte, error)
	var check func([]byte) error
	if kind == "fast" {
		u.count++
		mech = "HT-SHA-256-NONE"
		initial = append([]byte(u.name+"\x00"), htProof(u.token, "Initiator")...)
		inline += fmt.Sprintf("<fast xmlns='%s' count='%d'/>", nsFAST, u.count)
		check = func(ad []byte) error {
			if !hmac.Equal(ad, htProof(u.token, "Responder")) {
				return errors.New("the server's HT proof does not verify")
			}
			return nil
		}
	} else {
		mech = "SCRAM-SHA-256"
		conv := u.scram.NewConversation()
		first, err := conv.Step("")
		if err != nil {
			return fmt.Errorf("SCRAM first message: %w", err)
		}
		initial = []byte(first)
		step = func(ch []byte) ([]byte, error) {
			msg, err := conv.Step(string(ch))
			if err != nil {
				return nil, fmt.Errorf("SCRAM: %w", err)
			}
			return []byte(msg), nil
		}
		check = func(ad []byte) error {
			if _, err := conv.Step(string(ad)); err != nil || !conv.Valid() {
				return fmt.Errorf("server signature not valid (%v)", err)
			}
			return nil
		}
		if kind == "prepare-fast" {
			inline += "<request-token xmlns='" + nsFAST + "' mechanism='HT-SHA-256-NONE'/>"
		}
	}
	out := "<authenticate xmlns='" + nsSASL2 + "' mechanism='" + mech + "'><initial-response>" +
		base64.StdEncoding.EncodeToString(initial) + "</initial-response>" + inline + "</authenticate>"
	for {
		if err := c.write([]byte(out)); err != nil {
			return err
		}
		e, err := c.Next()
		if err != nil {
			return err
		}
		if e.XMLName.Space != nsSASL2 {
			return fmt.Errorf("unexpected <%s> during SASL2", e.XMLName.Local)
		}
		switch e.XMLName.Local {
		case "challenge":
			if step == nil {
				return fmt.Errorf("unexpected challenge for %s", mech)
			}
			data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(e.Text))
			if err != nil {
				return fmt.Errorf("SASL2 challenge: %w", err)
			}
			resp, err := step(data)
			if err != nil {
				return err
			}
			out = "<response xmlns='" + nsSASL2 + "'>" + base64.StdEncoding.EncodeToString(resp) + "</response>"
		case "success":
			ad := e.child(nsSASL2, "additional-data")
			if ad == nil {
				return errors.New("SASL2 success without additional data")
			}
			data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ad.Text))
			if err != nil {
				return fmt.Errorf("SASL2 additional data: %w", err)
			}
			if err := check(data); err != nil {
				return err
			}
			if kind == "prepare-fast" {
				tok := e.child(nsFAST, "token")
				if tok == nil || tok.attr("token") == "" {
					return errors.New("no FAST token given (does the server offer FAST?)")
				}
				u.token, u.count = tok.attr("token"), 0
			}
			return nil
		case "failure":
			cond := "unknown"
			if len(e.Children) > 0 {
				cond = e.Children[0].XMLName.Local
			}
			return &saslFailure{condition: cond}
		default:
			return fmt.Errorf("unexpected <%s> during SASL2", e.XMLName.Local)
		}
	}
}

// htProof is the HT mechanisms' proof without channel binding
// (draft-schmaus-kitten-sasl-ht): HMAC-SHA-256(token, label).
func htProof(token, label string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Text is the human-readable report.
func (r *LoginsReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "parley-bench logins: %s on %s, storms of %g logins/s (SASL2 + Bind2)\n", r.Users, r.Addr, r.Rate)
	for _, k := range r.Kinds {
		fmt.Fprintf(&b, "%-7s %d of %d logged in (%d TLS resumed) at %.0f logins/s; failed %s\n",
			k.Kind, k.OK, k.Attempted, k.Resumed, k.PerSecond, formatCounts(k.Failures))
		fmt.Fprintf(&b, "  login   %s\n", k.Latency)
		fmt.Fprintf(&b, "  TLS %s / SASL2+Bind2 %s (p50/p99)\n",
			fmtMS(k.TLS.P50)+"/"+fmtMS(k.TLS.P99), fmtMS(k.Auth.P50)+"/"+fmtMS(k.Auth.P99))
		if k.Server != nil {
			fmt.Fprintf(&b, "  server  %s; %.2f ms CPU per login (%.0f logins/s per core)\n", k.Server, k.CPUPerLoginMS, k.LoginsPerCore)
		}
		fmt.Fprintf(&b, "  bench   CPU %.0f%% of one core\n", k.BenchCPUPercent)
	}
	return b.String()
}
