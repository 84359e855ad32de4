package storagetest

import (
	"bytes"
	"sync"
	"testing"
)

var secretTests = []test{
	{"FirstGeneratedIsKept", func(t *testing.T, e *env) {
		first, err := e.store.SharedSecret(e.ctx, "dialback", func() []byte { return []byte("first secret") })
		if err != nil {
			t.Fatalf("SharedSecret: %v", err)
		}
		if string(first) != "first secret" {
			t.Fatalf("SharedSecret = %q, want the generated %q", first, "first secret")
		}
		again, err := e.store.SharedSecret(e.ctx, "dialback", func() []byte { return []byte("second secret") })
		if err != nil || string(again) != "first secret" {
			t.Fatalf("SharedSecret again = %q, %v; want the stored %q", again, err, "first secret")
		}
		other, err := e.store.SharedSecret(e.ctx, "occupant-id", func() []byte { return []byte{0, 1, 2, 255} })
		if err != nil || !bytes.Equal(other, []byte{0, 1, 2, 255}) {
			t.Fatalf("SharedSecret(occupant-id) = %v, %v; want its own secret", other, err)
		}
		e.reopen()
		kept, err := e.store.SharedSecret(e.ctx, "dialback", func() []byte { return []byte("after restart") })
		if err != nil || string(kept) != "first secret" {
			t.Fatalf("SharedSecret after reopen = %q, %v; want %q", kept, err, "first secret")
		}
	}},
	{"ConcurrentCallersAgree", func(t *testing.T, e *env) {
		// Nodes starting together each generate a secret: all must
		// end up with the same one.
		const n = 8
		got := make([][]byte, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				b, err := e.store.SharedSecret(e.ctx, "race", func() []byte { return []byte{byte(i)} })
				if err != nil {
					t.Errorf("SharedSecret %d: %v", i, err)
				}
				got[i] = b
			})
		}
		wg.Wait()
		for i := range got {
			if len(got[i]) != 1 || !bytes.Equal(got[i], got[0]) {
				t.Fatalf("callers got %v: want one secret for all", got)
			}
		}
	}},
	{"EmptyNameRefused", func(t *testing.T, e *env) {
		if _, err := e.store.SharedSecret(e.ctx, "", func() []byte { return []byte("x") }); err == nil {
			t.Fatal("SharedSecret with an empty name succeeded")
		}
	}},
}
