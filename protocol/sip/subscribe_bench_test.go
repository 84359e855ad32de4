package sip

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleychat/parley/muc"
)

// BenchmarkRosterFanout: one join in a room watched by 50 conference
// subscriptions (each its own dialog and contact on loopback UDP); an
// op is the join and every subscriber's partial NOTIFY received, then the
// leave and every NOTIFY of it.
func BenchmarkRosterFanout(b *testing.B) {
	const subscribers = 50
	ts, engine := newRoomServerWith(b, Config{MaxSubscriptions: subscribers})
	c := newClient(b, ts.udp)
	phones := make([]*uas, subscribers)
	for i := range phones {
		phones[i] = newUAS(b)
		newSubscriber(c, phones[i], "alice", "wonderland").mustSubscribe("lobby")
	}
	ctx := context.Background()
	sink := make(recorder, 16)
	wait := func() {
		for _, p := range phones {
			select {
			case <-p.notifies:
			case <-time.After(5 * time.Second):
				b.Fatal("a NOTIFY did not come")
			}
		}
	}
	b.ResetTimer()
	for i := range b.N {
		addr := fmt.Sprintf("carol@%s/%d", testDomain, i)
		if err := engine.Join(ctx, muc.JoinRequest{Room: "lobby", Nick: "carol", User: "carol@" + testDomain,
			Session: muc.Session{Address: addr, FrontDoor: "xmpp", Sink: sink}}); err != nil {
			b.Fatal(err)
		}
		wait()
		if err := engine.Leave(ctx, "lobby", addr, nil); err != nil {
			b.Fatal(err)
		}
		wait()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/2/subscribers, "µs/NOTIFY")
}
