package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/parleychat/parley/compliance"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/sqlite"
)

func TestComplianceStatus(t *testing.T) {
	r := newRunner(t)
	res := r.must(exitOK, "", "compliance", "status")
	for _, want := range []string{
		`(?m)^compliance\s+on$`,
		`(?m)^compliance storage\s+sqlite:.*compliance\.db$`,
		`(?m)^worker\s+none active$`,
		`(?m)^captured events\s+0$`,
		`(?m)^lag\s+0s$`,
		`(?m)^adapters\s+none has run$`,
	} {
		if !regexp.MustCompile(want).MatchString(res.stdout) {
			t.Errorf("status does not match %s:\n%s", want, res.stdout)
		}
	}
	// parleyctl's own changes are captured: they wait in the outbox
	// until a worker copies them.
	r.must(exitOK, "", "category", "add", "legal")
	res = r.must(exitOK, "", "--compliance=false", "compliance", "status")
	if !regexp.MustCompile(`(?m)^compliance\s+off`).MatchString(res.stdout) {
		t.Errorf("--compliance=false: status says\n%s", res.stdout)
	}
	if !regexp.MustCompile(`(?m)^outbox backlog\s+[1-9]\d* events, oldest \S+ \(\d+s ago\)$`).MatchString(res.stdout) {
		t.Errorf("backlog not shown:\n%s", res.stdout)
	}
	// What parleyd last started with on this data directory wins over
	// parleyctl's own configuration, which may differ.
	if err := os.WriteFile(filepath.Join(r.data, compliance.StateFile), []byte("off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res = r.must(exitOK, "", "compliance", "status")
	if !regexp.MustCompile(`(?m)^compliance\s+off \(capture goes on.*\), as parleyd last started on this data directory \(this configuration says on\)$`).MatchString(res.stdout) {
		t.Errorf("status with parleyd last started off:\n%s", res.stdout)
	}
	// An adapter's last run.
	store, err := sqlite.OpenCompliance(t.Context(), filepath.Join(r.data, "compliance.db"))
	if err != nil {
		t.Fatal(err)
	}
	ran := time.Now().Add(-time.Minute)
	err = store.SetAdapterPosition(t.Context(), storage.AdapterPosition{Name: "xml", Seq: 12, Pending: 12,
		LastRun: storage.AdapterRun{At: ran, Events: 12, File: "/srv/out/parley-compliance-1-12.xml"}})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	res = r.must(exitOK, "", "compliance", "status")
	if !regexp.MustCompile(`(?m)^adapter xml\s+last run \S+ \(1m\d+s ago\): 12 events, file /srv/out/parley-compliance-1-12.xml; written up to event 12$`).MatchString(res.stdout) {
		t.Errorf("adapter run not shown:\n%s", res.stdout)
	}
}
