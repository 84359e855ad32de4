package main

import (
	"regexp"
	"testing"
)

func TestComplianceStatus(t *testing.T) {
	r := newRunner(t)
	res := r.must(exitOK, "", "compliance", "status")
	for _, want := range []string{
		`(?m)^compliance\s+on$`,
		`(?m)^compliance storage\s+sqlite:.*compliance\.db$`,
		`(?m)^worker\s+none active$`,
		`(?m)^captured events\s+0$`,
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
}
