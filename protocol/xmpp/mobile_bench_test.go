package xmpp

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
)

// BenchmarkReconnect measures what a phone's reconnect costs, end to end
// on loopback: TCP, STARTTLS (TLS 1.3), SASL2 with Bind2 (and stream
// management enabled inline), until the bound stream's features are read;
// with the password (SCRAM-SHA-256: PBKDF2 with auth.DefaultIterations on
// the client, as a client that does not cache its salted password does)
// and with a FAST token (HT-SHA-256-NONE). It reports the medians of the
// whole reconnect (total) and of the SASL2 exchange with Bind2 (auth).
//
//	go test ./protocol/xmpp -run '^$' -bench Reconnect -benchtime 50x
func BenchmarkReconnect(b *testing.B) {
	ts := startServer(b)
	ts.addUser(b, "romeo", "secret")
	bind := `<bind xmlns='urn:xmpp:bind:0'><tag>Bench</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`
	first := dialRaw(b, ts.addr)
	first.openStream()
	first.startTLS()
	token := first.sasl2Login("SCRAM-SHA-256", "romeo", "secret", phoneAgent+bind+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`, nil).
		Child(nsFAST, "token").AttrValue("token")
	first.conn.Close()
	count := 0 // XEP-0484 §3.4: grows over every FAST login
	// The two alternate, so that the machine's load weighs on both alike.
	took := map[string][]time.Duration{}
	for b.Loop() {
		for _, how := range []string{"scram", "fast"} {
			start := time.Now()
			c := dialRaw(b, ts.addr)
			c.openStream()
			c.startTLS()
			authStart := time.Now()
			var el *Element
			if how == "fast" {
				count++
				el = c.fastLogin("HT-SHA-256-NONE", "romeo", token, nil, phoneAgent+bind+fmt.Sprintf(`<fast xmlns='urn:xmpp:fast:0' count='%d'/>`, count))
			} else {
				el = c.sasl2Login("SCRAM-SHA-256", "romeo", "secret", phoneAgent+bind, nil)
			}
			if el.Name.Local != "success" {
				b.Fatalf("%s: %s", how, el)
			}
			c.next() // the bound stream's features
			took[how+"-auth"] = append(took[how+"-auth"], time.Since(authStart))
			took[how+"-total"] = append(took[how+"-total"], time.Since(start))
			c.conn.Close()
		}
	}
	for name, d := range took {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), name+"-median-µs")
	}
}

// BenchmarkDetachedSessionMemory measures the heap a detached stream
// management session keeps (XEP-0198 §5: bound, resumable, its connection
// gone), with nothing unacknowledged: n phones log in with SM and
// resumption, their sockets die, and the heap in use after a GC is
// compared with before. Each unacknowledged stanza adds its serialised
// bytes to that.
//
//	go test ./protocol/xmpp -run '^$' -bench DetachedSessionMemory -benchtime 1x
func BenchmarkDetachedSessionMemory(b *testing.B) {
	const n = 200
	ts := startServer(b, func(c *Config) { c.MaxResourcesPerUser = n + 1; c.SMMaxResumable = n + 1 })
	ts.addUser(b, "romeo", "secret")
	for b.Loop() {
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapInuse
		}
		before := heap()
		for i := range n {
			c := dialRaw(b, ts.addr)
			c.openStream()
			c.startTLS()
			ok := c.sasl2Login("SCRAM-SHA-256", "romeo", "secret", fmt.Sprintf(`<user-agent id='dev-%d'/>`, i)+
				`<bind xmlns='urn:xmpp:bind:0'><tag>P</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`, nil)
			if ok.Name.Local != "success" {
				b.Fatal(ok)
			}
			c.next()
			c.conn.Close()
		}
		waitFor(b, "every session detached", func() bool {
			ts.srv.sm.mu.Lock()
			defer ts.srv.sm.mu.Unlock()
			d := 0
			for _, s := range ts.srv.sm.byID {
				s.mu.Lock()
				if s.sm.detached {
					d++
				}
				s.mu.Unlock()
			}
			return d == n
		})
		after := heap()
		b.ReportMetric(float64(int64(after)-int64(before))/n, "bytes/detached-session")
	}
}
