// Package importertest writes other servers' data for the import tests
// and benchmarks.
package importertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteProsody writes a Prosody data directory (mod_storage_internal) for
// old.test with its MUC service rooms.old.test: the account alice
// (password "alice pw", SCRAM-SHA-1) and the room big with n archived
// messages, one second apart, keys key-00000000 on.
func WriteProsody(tb testing.TB, dir string, n int) {
	tb.Helper()
	write := func(path, text string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	write(filepath.Join(dir, "old%2etest", "accounts", "alice.dat"), `return {
	["iteration_count"] = 4096;
	["stored_key"] = "0a4d6d5c8d1b2a24f16fe4bb8f04e4fd8d0f3a27";
	["salt"] = "salt-of-alice";
	["server_key"] = "5b8bd4d3a1f6b2b3b18c1c5f6fb4d1dbdc2d3f41";
};`)
	write(filepath.Join(dir, "rooms%2eold%2etest", "config", "big.dat"),
		`return { ["alice@old.test"] = "owner"; ["_data"] = { ["name"] = "Big"; ["persistent"] = true; }; };`)
	var s strings.Builder
	const start = 1700000000
	for i := range n {
		fmt.Fprintf(&s, `item({
	{
		"message number %d from Alice, with some words to index: the quick brown fox jumps over the lazy dog";
		["name"] = "body";
		["attr"] = {};
	};
	["attr"] = {
		["type"] = "groupchat";
		["id"] = "origin%d";
		["from"] = "big@rooms.old.test/Alice";
	};
	["with"] = "message<groupchat";
	["when"] = %d;
	["key"] = "key-%08d";
	["name"] = "message";
});
`, i, i, start+i, i)
	}
	write(filepath.Join(dir, "rooms%2eold%2etest", "muc_log", "big.list"), s.String())
}
