package pool

import (
	"crypto/tls"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// rogue starts a NATS server that tries to route into the pool at addr
// with the given TLS configuration (nil: none) and route credentials, and
// returns a client of it subscribed to every pool subject.
func rogue(t *testing.T, addr string, tc *tls.Config, user, password string) chan *nats.Msg {
	t.Helper()
	opts := &server.Options{ServerName: "rogue", Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "parley", Host: "127.0.0.1", Port: server.RANDOM_PORT, TLSConfig: tc, TLSTimeout: 2},
		Routes:  []*url.URL{{Scheme: "nats-route", User: url.UserPassword(user, password), Host: addr}}}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("rogue server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.NoEcho()) // hear only others
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ch := make(chan *nats.Msg, 64)
	if _, err := nc.ChanSubscribe("parley.>", ch); err != nil {
		t.Fatal(err)
	}
	// It also tries to inject a heartbeat and a room command.
	go func() {
		for range 20 {
			_ = nc.Publish(subjHeartbeat, []byte(`{"node":"rogue","role":"active","active":true,"started":1}`))
			_ = nc.PublishMsg(&nats.Msg{Subject: sprintf(subjRoomsFmt, "node1"), Data: []byte(`{"room":"lobby","actor":"rogue"}`),
				Header: nats.Header{hdrCommand: {cmdDestroy.name}, hdrFrom: {"rogue"}}})
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return ch
}

// TestPoolOutsidersCannotJoin: a process without the pool's secret cannot
// route into the bus, neither without TLS, nor with a certificate of
// another CA, even knowing the route password; it hears nothing and what
// it publishes reaches no node.
func TestPoolOutsidersCannotJoin(t *testing.T) {
	nodes := startNodes(t, testDSN(t), RoleActive)
	addr := nodes[0].p.cfg.Bus.Listen
	user, password, err := routeCredentials(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := secretTLS("a different secret, another CA", "rogue")
	if err != nil {
		t.Fatal(err)
	}
	plain := rogue(t, addr, nil, user, password)
	wrongCA := rogue(t, addr, otherCA, user, password)
	deadline := time.After(3 * time.Second)
	for {
		select {
		case m := <-plain:
			t.Fatalf("a rogue without TLS received %s", m.Subject)
		case m := <-wrongCA:
			t.Fatalf("a rogue with another CA's certificate received %s", m.Subject)
		case <-deadline:
			if n := nodes[0].p.bus.srv.NumRoutes(); n != 0 {
				t.Fatalf("the node accepted %d routes from outsiders", n)
			}
			nodes[0].p.mu.Lock()
			_, heard := nodes[0].p.view["rogue"]
			nodes[0].p.mu.Unlock()
			if heard {
				t.Fatal("a rogue heartbeat reached the node")
			}
			return
		}
	}
}
