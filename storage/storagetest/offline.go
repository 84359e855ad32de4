package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

var offlineTests = []test{
	{"StoreAndListInIDOrder", func(t *testing.T, e *env) {
		e.createAccount("alice")
		before := time.Now()
		want := []storage.OfflineMessage{
			{Owner: "alice", From: "bob@example.org/phone", Stanza: []byte(`<message type="chat"><body>one</body></message>`)},
			{Owner: "alice", From: "carol@example.org/💻", Stanza: []byte(`<message type="chat"><body>two 🎉</body></message>`)},
			{Owner: "alice", From: "bob@example.org/phone", Stanza: []byte(`<message><body>three</body></message>`)},
		}
		var last int64
		for i := range want {
			id, err := e.store.StoreOffline(e.ctx, want[i], 0)
			if err != nil {
				t.Fatalf("StoreOffline #%d: %v", i+1, err)
			}
			if id <= last {
				t.Fatalf("StoreOffline #%d returned id %d after %d, want increasing ids", i+1, id, last)
			}
			want[i].ID, last = id, id
		}
		after := time.Now()
		got := e.offline("alice")
		if len(got) != len(want) {
			t.Fatalf("OfflineMessages returned %d messages, want %d", len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.ID != w.ID || g.Owner != w.Owner || g.From != w.From || !bytes.Equal(g.Stanza, w.Stanza) {
				t.Errorf("message %d = {%d %s %s %q}, want {%d %s %s %q}", i, g.ID, g.Owner, g.From, g.Stanza, w.ID, w.Owner, w.From, w.Stanza)
			}
			wantTime(t, fmt.Sprintf("message %d Stored", i), g.Stored, before, after)
		}
		if msgs := e.offline("nobody"); len(msgs) != 0 {
			t.Errorf("OfflineMessages(nobody) = %+v, want none", msgs)
		}
	}},

	{"StoredTimeIsKept", func(t *testing.T, e *env) {
		e.createAccount("alice")
		when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*60*60))
		if _, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{Owner: "alice", From: "bob@example.org/x", Stanza: []byte("<message/>"), Stored: when}, 0); err != nil {
			t.Fatalf("StoreOffline: %v", err)
		}
		got := e.offline("alice")[0].Stored
		if want := when.Truncate(time.Microsecond); !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Stored = %v, want %v in UTC", got, want.UTC())
		}
	}},

	{"StoreUnknownOwnerGivesErrNotFound", func(t *testing.T, e *env) {
		_, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{Owner: "nobody", From: "bob@example.org/x", Stanza: []byte("<message/>")}, 10)
		wantErrorIs(t, "StoreOffline(nobody)", err, storage.ErrNotFound)
	}},

	{"QuotaGivesErrQuotaExceeded", func(t *testing.T, e *env) {
		e.createAccount("alice")
		e.createAccount("bob")
		msg := storage.OfflineMessage{Owner: "alice", From: "carol@example.org/x", Stanza: []byte("<message/>")}
		for i := range 3 {
			if _, err := e.store.StoreOffline(e.ctx, msg, 3); err != nil {
				t.Fatalf("StoreOffline #%d with max 3: %v", i+1, err)
			}
		}
		_, err := e.store.StoreOffline(e.ctx, msg, 3)
		wantErrorIs(t, "StoreOffline #4 with max 3", err, storage.ErrQuotaExceeded)
		if n := len(e.offline("alice")); n != 3 {
			t.Fatalf("%d messages stored after the refused one, want 3", n)
		}

		// The quota is per owner.
		if _, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{Owner: "bob", From: "carol@example.org/x", Stanza: []byte("<message/>")}, 3); err != nil {
			t.Errorf("StoreOffline for bob while alice is full: %v", err)
		}
		// max <= 0 means no limit; a lower limit than what is stored refuses.
		if _, err := e.store.StoreOffline(e.ctx, msg, 0); err != nil {
			t.Errorf("StoreOffline with max 0: %v", err)
		}
		_, err = e.store.StoreOffline(e.ctx, msg, 2)
		wantErrorIs(t, "StoreOffline with max 2 and 4 stored", err, storage.ErrQuotaExceeded)

		// Delivering frees room.
		ids := e.offlineIDs("alice")
		if err := e.store.DeleteOfflineThrough(e.ctx, "alice", ids[1]); err != nil {
			t.Fatalf("DeleteOfflineThrough: %v", err)
		}
		if _, err := e.store.StoreOffline(e.ctx, msg, 3); err != nil {
			t.Errorf("StoreOffline after delivery with max 3 and 2 stored: %v", err)
		}
	}},

	{"DeleteOfflineThrough", func(t *testing.T, e *env) {
		e.createAccount("alice")
		e.createAccount("bob")
		var ids []int64
		for i := range 5 {
			ids = append(ids, e.storeOffline("alice", "carol@example.org/x", fmt.Sprintf("<message><body>%d</body></message>", i)))
		}
		bobID := e.storeOffline("bob", "carol@example.org/x", "<message/>")

		for _, c := range []struct {
			owner string
			upTo  int64
		}{
			{"alice", ids[2]},
			{"alice", 0},              // nothing that old
			{"bob", bobID - 1},        // nothing of bob's that old
			{"nobody", ids[4] + 1000}, // unknown owner: nothing to do
			{"alice", ids[2]},         // again
		} {
			if err := e.store.DeleteOfflineThrough(e.ctx, c.owner, c.upTo); err != nil {
				t.Fatalf("DeleteOfflineThrough(%s, %d): %v", c.owner, c.upTo, err)
			}
		}
		if got := e.offlineIDs("alice"); !slices.Equal(got, ids[3:]) {
			t.Errorf("alice's messages after DeleteOfflineThrough(%d) = %v, want %v", ids[2], got, ids[3:])
		}
		if got := e.offlineIDs("bob"); !slices.Equal(got, []int64{bobID}) {
			t.Errorf("bob's messages = %v, want [%d]", got, bobID)
		}
	}},

	{"IDsAreNeverReused", func(t *testing.T, e *env) {
		e.createAccount("alice")
		e.storeOffline("alice", "bob@example.org/x", "<message/>")
		last := e.storeOffline("alice", "bob@example.org/x", "<message/>")
		if err := e.store.DeleteOfflineThrough(e.ctx, "alice", last); err != nil {
			t.Fatalf("DeleteOfflineThrough: %v", err)
		}
		if id := e.storeOffline("alice", "bob@example.org/x", "<message/>"); id <= last {
			t.Errorf("id after deleting all = %d, want > %d", id, last)
		}
	}},

	{"LargeStanza", func(t *testing.T, e *env) {
		e.createAccount("alice")
		// 300 KiB: text with 4-byte characters, and bytes that are not
		// UTF-8 at all (a BLOB keeps whatever it is given).
		var b bytes.Buffer
		b.WriteString(`<message type="chat"><body>`)
		for b.Len() < 300<<10 {
			b.WriteString("Grüße 🌍 ")
		}
		b.WriteString("</body></message>")
		b.Write([]byte{0x00, 0xff, 0xfe, 0x80, 0x00})
		big := b.Bytes()
		id, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{Owner: "alice", From: "bob@example.org/x", Stanza: big}, 0)
		if err != nil {
			t.Fatalf("StoreOffline(%d bytes): %v", len(big), err)
		}
		got := e.offline("alice")
		if len(got) != 1 || got[0].ID != id || !bytes.Equal(got[0].Stanza, big) {
			var n int
			if len(got) == 1 {
				n = len(got[0].Stanza)
			}
			t.Fatalf("read back %d messages, first %d bytes; want 1 of %d bytes, identical", len(got), n, len(big))
		}
		// A long full JID (RFC 7622 allows resourceparts of 1023 bytes).
		from := "bob@example.org/" + strings.Repeat("r", 1023)
		if _, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{Owner: "alice", From: from, Stanza: []byte("<message/>")}, 0); err != nil {
			t.Fatalf("StoreOffline from a %d-byte JID: %v", len(from), err)
		}
		if got := e.offline("alice"); got[1].From != from {
			t.Errorf("From of %d bytes came back as %d bytes", len(from), len(got[1].From))
		}
	}},

	{"ConcurrentWriters", func(t *testing.T, e *env) {
		e.createAccount("alice")
		const writers, each = 8, 25
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			ids = map[string]int64{} // stanza -> id
		)
		for w := range writers {
			wg.Go(func() {
				var last int64
				for i := range each {
					stanza := fmt.Sprintf("<message><body>%d/%d</body></message>", w, i)
					id, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{
						Owner: "alice", From: fmt.Sprintf("w%d@example.org/x", w), Stanza: []byte(stanza),
					}, 0)
					if err != nil {
						t.Errorf("writer %d: StoreOffline: %v", w, err)
						return
					}
					if id <= last {
						t.Errorf("writer %d: id %d after %d", w, id, last)
					}
					last = id
					mu.Lock()
					ids[stanza] = id
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		got := e.offline("alice")
		if len(got) != writers*each {
			t.Fatalf("%d messages stored, want %d", len(got), writers*each)
		}
		seen := map[int64]bool{}
		for i, m := range got {
			if i > 0 && m.ID <= got[i-1].ID {
				t.Fatalf("OfflineMessages not in increasing ID order: %d after %d", m.ID, got[i-1].ID)
			}
			if want := ids[string(m.Stanza)]; m.ID != want || seen[m.ID] {
				t.Fatalf("message %q has id %d, StoreOffline returned %d", m.Stanza, m.ID, want)
			}
			seen[m.ID] = true
		}
	}},

	{"ConcurrentWritersRespectQuota", func(t *testing.T, e *env) {
		e.createAccount("alice")
		const writers, each, max = 8, 10, 50
		var (
			wg              sync.WaitGroup
			mu              sync.Mutex
			stored, refused int
		)
		for w := range writers {
			wg.Go(func() {
				for range each {
					_, err := e.store.StoreOffline(e.ctx, storage.OfflineMessage{
						Owner: "alice", From: fmt.Sprintf("w%d@example.org/x", w), Stanza: []byte("<message/>"),
					}, max)
					mu.Lock()
					switch {
					case err == nil:
						stored++
					case errors.Is(err, storage.ErrQuotaExceeded):
						refused++
					default:
						t.Errorf("writer %d: StoreOffline: %v", w, err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if n := len(e.offline("alice")); stored != max || refused != writers*each-max || n != max {
			t.Errorf("stored %d, refused %d, %d in the queue; want %d, %d, %d", stored, refused, n, max, writers*each-max, max)
		}
	}},
}
