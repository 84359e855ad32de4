package pool

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// BenchmarkPost measures one post's latency, acknowledged after its
// commit, from a session on the room's host and from a session on another
// node (forwarded over the bus and answered back). The database and the
// group commit are the same in both; the difference is the pool's cost.
func BenchmarkPost(b *testing.B) {
	for _, where := range []string{"on the host", "on another node"} {
		b.Run(where, func(b *testing.B) {
			nodes := startNodes(b, testDSN(b), RoleActive, RoleActive)
			createOpenRoom(b, nodes[0], "bench")
			c0 := join(b, nodes[0], "bench", "u0")
			c1 := join(b, nodes[1], "bench", "u1")
			f, err := nodes[0].store.RoomHost(b.Context(), "bench")
			if err != nil {
				b.Fatal(err)
			}
			c := c0
			if (where == "on the host") != (f.Node == nodes[0].name) {
				c = c1
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if err := c.post(b.Context(), "bench", fmt.Sprintf("m%d", i)); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
