package importer

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/xdg-go/scram"

	"github.com/parleychat/parley/internal/mysqltest"
	"github.com/parleychat/parley/storage"
)

// testdata/openfire: the tables of Openfire's published schema that the
// import reads (schema.sql) and rows as Openfire 4.7 writes them
// (data.sql), loaded into SQLite and into MariaDB.
func TestOpenfire(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "openfire.db")
		db, err := sql.Open("sqlite", file)
		if err != nil {
			t.Fatal(err)
		}
		loadFixture(t, db)
		db.Close()
		checkOpenfire(t, "sqlite:"+file)
	})
	t.Run("mysql", func(t *testing.T) {
		cfg, err := gomysql.ParseDSN(mysqltest.Database(t, "openfire_"))
		if err != nil {
			t.Fatal(err)
		}
		name := cfg.DBName
		cfg.DBName, cfg.MultiStatements = "", true
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
			t.Fatalf("MariaDB on %s: %v", cfg.Addr, err)
		}
		cfg.DBName = name
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		loadFixture(t, db)
		db.Close()
		cfg.MultiStatements = false
		checkOpenfire(t, "mysql:"+cfg.FormatDSN())
	})
}

func loadFixture(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, f := range []string{"testdata/openfire/schema.sql", "testdata/openfire/data.sql"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(string(b), ";\n") {
			var lines []string
			for _, l := range strings.Split(stmt, "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "--") {
					lines = append(lines, l)
				}
			}
			if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v\n%s", f, err, q)
				}
			}
		}
	}
}

func checkOpenfire(t *testing.T, from string) {
	ctx := context.Background()
	store, e := openParley(t)
	run := func() Summary {
		src, err := Open("openfire", from)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		sum, err := Run(ctx, src, options(store, e))
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	if sum := run(); sum.Accounts != 2 || sum.Rooms != 3 || sum.Messages != 31 {
		t.Errorf("first run: %+v", sum)
	}
	if sum := run(); sum.Accounts != 0 || sum.Rooms != 0 || sum.Messages != 0 || sum.MessagesSkipped != 31 {
		t.Errorf("second run: %+v", sum)
	}

	cred, err := store.ScramCredential(ctx, "alice", "SCRAM-SHA-1")
	if err != nil {
		t.Fatal(err)
	}
	client, _ := scram.SHA1.NewClientUnprepped("alice", "alice pw", "")
	if got := client.GetStoredCredentials(scram.KeyFactors{Salt: string(cred.Salt), Iters: cred.Iterations}); !bytes.Equal(got.StoredKey, cred.StoredKey) {
		t.Error("alice's imported SCRAM-SHA-1 credential does not verify her Openfire password")
	}
	if a, err := store.Account(ctx, "dave"); err != nil || len(a.Credentials) != 2 || len(a.Digest) == 0 {
		t.Errorf("dave (a plain password on Openfire): %+v, %v", a, err)
	}

	for _, c := range []struct {
		room                       string
		public, membersOnly, stage bool
		affs                       string
	}{
		{"lobby", true, false, false, "alice@new.test=owner"},
		{"council", true, true, false, "alice@new.test=owner bob@new.test=member dave@new.test=admin mallory@new.test=outcast"},
		{"stage", false, true, true, "alice@new.test=owner bob@new.test=member+presenter"},
	} {
		r, err := store.Room(ctx, c.room)
		if err != nil || r.Public != c.public || r.MembersOnly != c.membersOnly || r.Moderated != c.stage {
			t.Errorf("%s: %+v, %v", c.room, r, err)
		}
		affs, _ := store.Affiliations(ctx, c.room)
		var got []string
		for _, a := range affs {
			got = append(got, a.JID+"="+a.Affiliation+map[bool]string{true: "+presenter"}[a.Presenter])
		}
		if strings.Join(got, " ") != c.affs {
			t.Errorf("%s's affiliations: %v, want %s", c.room, got, c.affs)
		}
	}
	lobby, _ := store.Room(ctx, "lobby")
	if lobby.Subject != "Welcome" || lobby.Title != "The Lobby" || lobby.Description != "Everyone" {
		t.Errorf("lobby: %+v", lobby)
	}
	msgs, _, err := store.QueryHistory(ctx, storage.HistoryQuery{Room: "lobby", Limit: 100})
	if err != nil || len(msgs) != 11 {
		t.Fatalf("lobby's history: %d messages, %v", len(msgs), err)
	}
	first := msgs[0]
	if first.StanzaID != "1" || !first.Time.Equal(time.UnixMilli(1700000001007)) || first.Nick != "Alice" ||
		first.RealJID != "alice@new.test" || first.Body != "lobby message 0 from Alice" {
		t.Errorf("lobby's first message (a row without a stanza): %+v", first)
	}
	if last := msgs[10]; last.Kind != storage.KindSubject || last.Body != "Welcome" {
		t.Errorf("lobby's last message (the subject change): %+v", last)
	}
	found, _, err := store.QueryHistory(ctx, storage.HistoryQuery{Room: "council", FullText: "friends", Limit: 10})
	if err != nil || len(found) != 1 || found[0].Body != "council message 4 from Alice & <friends> — naïve" {
		t.Fatalf("full-text search: %+v, %v", found, err)
	}
	if s := string(found[0].Stanza); !strings.Contains(s, `<body>council message 4 from Alice &amp; &lt;friends&gt; — naïve</body><x xmlns="jabber:x:event"><composing/></x>`) || strings.Contains(s, "from=") {
		t.Errorf("stored stanza: %s", s)
	}
}
