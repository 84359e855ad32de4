package main

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

func TestS2SList(t *testing.T) {
	r := newRunner(t)
	res := r.must(exitOK, "", "s2s", "list")
	if want := "no node has published"; !regexp.MustCompile(want).MatchString(res.stdout) {
		t.Fatalf("s2s list on a new database = %q, want %q", res.stdout, want)
	}
	store, err := backend.Open(t.Context(), "sqlite:"+r.data+"/parley.db", contentrules.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	for _, st := range []storage.S2SStatus{
		{Node: "n1", Written: time.Now(), Links: []storage.S2SLink{
			{Direction: "out", Local: "parley.test", Remote: "remote.test", State: "authenticated", Auth: "dialback", Queued: 2, Since: since, StanzasOut: 41},
			{Direction: "in", Local: "parley.test", Remote: "other.test", State: "connecting", Since: since, StanzasIn: 7},
		}},
		{Node: "n2", Written: time.Now().Add(-time.Minute), Links: []storage.S2SLink{
			{Direction: "out", Local: "parley.test", Remote: "gone.test", State: "authenticated", Auth: "certificate", Since: since},
		}},
	} {
		if err := store.PutS2SStatus(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()

	res = r.must(exitOK, "", "s2s", "list")
	for _, want := range []string{
		`(?m)^NODE\s+DIRECTION\s+LOCAL\s+REMOTE\s+STATE\s+AUTH\s+QUEUED\s+IN\s+OUT\s+SINCE$`,
		`(?m)^n1\s+out\s+parley\.test\s+remote\.test\s+authenticated\s+dialback\s+2\s+0\s+41\s+2026-12-02T17:00:00Z$`,
		`(?m)^n1\s+in\s+parley\.test\s+other\.test\s+connecting\s+-\s+0\s+7\s+0\s+2026-12-02T17:00:00Z$`,
		`(?m)^2 links on 1 nodes$`,
		`(?m)^n2: table written 1m0s ago \(not running\?\)$`,
	} {
		if !regexp.MustCompile(want).MatchString(res.stdout) {
			t.Errorf("s2s list does not match %s:\n%s", want, res.stdout)
		}
	}
	if regexp.MustCompile(`gone\.test`).MatchString(res.stdout) {
		t.Errorf("s2s list shows the links of a node that stopped publishing:\n%s", res.stdout)
	}
	res = r.must(exitOK, "", "s2s", "list", "--json")
	var got []storage.S2SStatus
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || len(got) != 2 || len(got[0].Links) != 2 {
		t.Fatalf("s2s list --json = %v, %v:\n%s", got, err, res.stdout)
	}
}
