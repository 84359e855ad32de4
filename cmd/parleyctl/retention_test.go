package main

import (
	"strings"
	"testing"
)

func TestRetentionCommands(t *testing.T) {
	r := newRunner(t)
	r.must(exitOK, "", "category", "add", "short", "--retention-days", "30")
	if res := r.must(exitOK, "", "category", "show", "short"); res.code != exitOK {
		t.Fatal(res.stderr)
	}
	r.must(exitOK, "", "category", "set", "short", "--retention-days", "7")
	r.must(exitUsage, "", "category", "set", "short", "--retention-days", "-1")
	r.must(exitOK, "", "room", "create", "lobby", "--category", "short")

	r.must(exitOK, "", "compliance", "hold", "add", "--room", "lobby", "--reason", "case 1")
	r.must(exitOK, "", "compliance", "hold", "add", "--user", "bob")
	r.must(exitUsage, "", "compliance", "hold", "add")
	res := r.must(exitOK, "", "compliance", "hold", "list")
	if !strings.Contains(res.stdout, "lobby") || !strings.Contains(res.stdout, "bob@localhost") || !strings.Contains(res.stdout, "case 1") {
		t.Errorf("hold list:\n%s", res.stdout)
	}
	r.must(exitOK, "", "compliance", "hold", "remove", "--room", "lobby")
	r.must(exitFailure, "", "compliance", "hold", "remove", "--room", "lobby")

	res = r.must(exitOK, "", "room", "clear", "lobby", "--before", "2030-01-01")
	if !strings.HasPrefix(res.stdout, "deleted 0 messages of room lobby") {
		t.Errorf("room clear: %q", res.stdout)
	}
	r.must(exitUsage, "", "room", "clear", "lobby")
	r.must(exitFailure, "", "message", "remove", "lobby", "nosuch", "--text", "gone")
}
