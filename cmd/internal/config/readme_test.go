package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the key table in README.md from the key table")

const (
	readme      = "../../../README.md"
	beginMarker = "<!-- config-keys:begin (generated: go test ./cmd/internal/config -update) -->\n"
	endMarker   = "<!-- config-keys:end -->"
)

// TestReadmeKeys checks that README.md documents every key exactly as the
// key table defines it. Run with -update to regenerate the table.
func TestReadmeKeys(t *testing.T) {
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	begin := strings.Index(text, beginMarker)
	end := strings.Index(text, endMarker)
	if begin < 0 || end < begin {
		t.Fatalf("README.md lacks the markers %q and %q", beginMarker, endMarker)
	}
	begin += len(beginMarker)
	want := Markdown()
	if text[begin:end] == want {
		return
	}
	if *update {
		text = text[:begin] + want + text[end:]
		if err := os.WriteFile(readme, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's key table is out of date; run: go test ./cmd/internal/config -update\n got:\n%s\nwant:\n%s", text[begin:end], want)
}
