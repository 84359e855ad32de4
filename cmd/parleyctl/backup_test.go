package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/internal/mysqltest"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

// TestBackupWhilePosting: posts are committed to a room without pause
// while parleyctl backup runs; the backup is restored into a fresh data
// directory (SQLite) or a fresh database (MySQL), and the restored history
// (what MAM reads) holds every post acknowledged before the backup
// started, unchanged, with nothing but whole posts after them. With
// --compliance the compliance database comes back too. A restore into a
// database that is not empty is refused.
func TestBackupWhilePosting(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		testBackupWhilePosting(t, []string{"--data", filepath.Join(dir, "live")},
			[]string{"--data", filepath.Join(dir, "restored")}, "sqlite:"+filepath.Join(dir, "restored", "parley.db"))
	})
	t.Run("mysql", func(t *testing.T) {
		if testing.Short() {
			t.Skip("needs MySQL")
		}
		live := "mysql:" + mysqltest.Database(t, "parley_backup_live_")
		liveC := "mysql:" + mysqltest.Database(t, "parley_backup_livec_")
		restored := "mysql:" + mysqltest.Database(t, "parley_backup_restored_")
		restoredC := "mysql:" + mysqltest.Database(t, "parley_backup_restoredc_")
		dir := t.TempDir()
		testBackupWhilePosting(t,
			[]string{"--data", filepath.Join(dir, "live"), "--storage", live, "--compliance-storage", liveC},
			[]string{"--data", filepath.Join(dir, "restored"), "--storage", restored, "--compliance-storage", restoredC}, restored)
	})
}

func testBackupWhilePosting(t *testing.T, liveArgs, restoredArgs []string, restoredDSN string) {
	ctl := func(want int, args ...string) result {
		t.Helper()
		var out, errOut strings.Builder
		code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		if code != want {
			t.Fatalf("parleyctl %q: exit %d, want %d\n%s%s", args, code, want, out.String(), errOut.String())
		}
		return result{code, out.String(), errOut.String()}
	}
	with := func(base []string, args ...string) []string { return append(append([]string{}, base...), args...) }
	ctl(0, with(liveArgs, "room", "create", "lobby", "--privacy", "open")...)
	ctl(0, with(liveArgs, "compliance", "status")...) // creates the compliance database

	// The poster: one post per AppendHistory (as a room host commits
	// them), each acknowledged when it returns.
	var cfgDSN string
	for i, a := range liveArgs {
		if a == "--storage" {
			cfgDSN = liveArgs[i+1]
		}
	}
	if cfgDSN == "" {
		cfgDSN = "sqlite:" + filepath.Join(liveArgs[1], "parley.db")
	}
	store, err := backend.Open(t.Context(), cfgDSN, contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	posted := make(chan struct{})
	var postErr error
	go func() {
		defer close(posted)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			body := fmt.Sprintf("post %d: ✓ 🦊 'quoted' \\ \"x\"", n)
			_, err := store.AppendHistory(context.Background(), []storage.PostWrite{{
				History: &storage.HistoryMessage{Room: "lobby", StanzaID: fmt.Sprintf("sid-%d", n), Nick: "alice",
					RealJID: "alice@localhost", FrontDoor: "xmpp", Kind: storage.KindPost, Body: body,
					Stanza: []byte("<message><body>" + body + "</body></message>")},
				Event: storage.OutboxEvent{EventID: fmt.Sprintf("ev-%d", n), Type: "post", Room: "lobby",
					Actor: "alice@localhost", Payload: fmt.Appendf(nil, `{"n":%d}`, n)},
			}})
			if err != nil {
				postErr = err
				return
			}
			mu.Lock()
			acked = append(acked, body)
			mu.Unlock()
		}
	}()
	// Let some posts in, then back up while they go on.
	for deadline := time.Now().Add(20 * time.Second); ; {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d posts in 20s (%v)", n, postErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "parley-backup.tar.gz")
	res := ctl(0, with(liveArgs, "backup", "--out", file, "--compliance")...)
	t.Log(strings.TrimSpace(res.stdout))
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	close(stop)
	<-posted
	if postErr != nil {
		t.Fatalf("posting: %v", postErr)
	}
	t.Logf("%d posts acknowledged before the backup, %d while it ran", len(before), during)
	if during == 0 {
		t.Log("no post was committed while the backup ran (a fast backup); the snapshot is still checked")
	}
	ctl(1, with(liveArgs, "backup", "--out", file)...) // never overwrites

	res = ctl(0, with(restoredArgs, "restore", "--in", file)...)
	if !strings.Contains(res.stdout, "restored the content database") || !strings.Contains(res.stdout, "restored the compliance database") {
		t.Errorf("restore said: %s", res.stdout)
	}
	restored, err := backend.Open(t.Context(), restoredDSN, contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	msgs, _, err := restored.QueryHistory(t.Context(), storage.HistoryQuery{Room: "lobby", Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < len(before) {
		t.Fatalf("restored history has %d posts, %d were acknowledged before the backup", len(msgs), len(before))
	}
	for i, body := range before {
		if msgs[i].Body != body || msgs[i].Seq != int64(i+1) || msgs[i].StanzaID != fmt.Sprintf("sid-%d", i) {
			t.Fatalf("restored post %d: %d %q %q, want %q", i, msgs[i].Seq, msgs[i].StanzaID, msgs[i].Body, body)
		}
	}
	for i := len(before); i < len(msgs); i++ { // posts during the backup: whole, in order
		if want := fmt.Sprintf("post %d: ", i); !strings.HasPrefix(msgs[i].Body, want) || string(msgs[i].Stanza) != "<message><body>"+msgs[i].Body+"</body></message>" {
			t.Fatalf("restored post %d: %q %q", i, msgs[i].Body, msgs[i].Stanza)
		}
	}
	t.Logf("restored: %d posts (%d acknowledged before the backup)", len(msgs), len(before))
	// The restored node is usable: parleyctl finds the room.
	if res := ctl(0, with(restoredArgs, "room", "list")...); !strings.Contains(res.stdout, "lobby") {
		t.Errorf("room list after restore: %s", res.stdout)
	}
	ctl(0, with(restoredArgs, "compliance", "status")...)
	// Restoring again over what is there now is refused.
	if res := ctl(1, with(restoredArgs, "restore", "--in", file)...); !strings.Contains(res.stderr, "empty") {
		t.Errorf("restore into a database that is not empty: %s", res.stderr)
	}
}
