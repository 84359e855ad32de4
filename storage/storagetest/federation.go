package storagetest

import (
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

var federationTests = []test{
	{"S2SStatusReplaced", func(t *testing.T, e *env) {
		if got, err := e.store.S2SStatuses(e.ctx); err != nil || len(got) != 0 {
			t.Fatalf("S2SStatuses of a new store = %v, %v; want none", got, err)
		}
		since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		first := storage.S2SStatus{Node: "n1", Written: since, Links: []storage.S2SLink{
			{Direction: "out", Local: "parley.test", Remote: "remote.test", State: "authenticated", Auth: "dialback", Queued: 3, Since: since, StanzasIn: 5, StanzasOut: 9},
			{Direction: "in", Local: "parley.test", Remote: "other.test", State: "connecting", Since: since},
		}}
		if err := e.store.PutS2SStatus(e.ctx, first); err != nil {
			t.Fatalf("PutS2SStatus: %v", err)
		}
		if err := e.store.PutS2SStatus(e.ctx, storage.S2SStatus{Node: "n0", Written: since}); err != nil {
			t.Fatalf("PutS2SStatus n0: %v", err)
		}
		second := first
		second.Links = first.Links[:1]
		if err := e.store.PutS2SStatus(e.ctx, second); err != nil {
			t.Fatalf("PutS2SStatus again: %v", err)
		}
		e.reopen()
		got, err := e.store.S2SStatuses(e.ctx)
		if err != nil {
			t.Fatalf("S2SStatuses: %v", err)
		}
		if len(got) != 2 || got[0].Node != "n0" || got[1].Node != "n1" {
			t.Fatalf("S2SStatuses = %+v; want n0 then n1", got)
		}
		l := got[1].Links
		if len(l) == 1 && l[0].Since.Equal(since) {
			l[0].Since = since
		}
		if len(l) != 1 || l[0] != second.Links[0] || !got[1].Written.Equal(since) {
			t.Fatalf("n1's links = %+v; want the second table %+v", got[1], second)
		}
	}},
	{"S2SStatusNeedsNode", func(t *testing.T, e *env) {
		if err := e.store.PutS2SStatus(e.ctx, storage.S2SStatus{}); err == nil {
			t.Fatal("PutS2SStatus without a node succeeded")
		}
	}},
}
