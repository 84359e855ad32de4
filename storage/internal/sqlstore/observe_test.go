package sqlstore

import "testing"

func TestExportedMethod(t *testing.T) {
	for _, c := range []struct {
		function, want string
		ok             bool
	}{
		{"github.com/parleychat/parley/storage/internal/sqlstore.(*Store).AppendHistory", "AppendHistory", true},
		{"github.com/parleychat/parley/storage/internal/sqlstore.(*Store).AppendHistory.func1", "AppendHistory", true},
		{"github.com/parleychat/parley/storage/internal/sqlstore.(*ComplianceStore).Capture.func2.1", "Capture", true},
		{"github.com/parleychat/parley/storage/internal/sqlstore.(*db).Ping", "Ping", true},
		{"github.com/parleychat/parley/storage/internal/sqlstore.(*db).writeTx", "", false},
		{"github.com/parleychat/parley/storage/internal/sqlstore.(*db).writeTx.func1", "", false},
		{"github.com/parleychat/parley/storage/internal/sqlstore.WriteTx", "", false},
		{"github.com/parleychat/parley/storage/internal/sqlstore.inTx", "", false},
		{"github.com/parleychat/parley/storage/mysql.(*Store).Open", "", false},
	} {
		got, ok := exportedMethod(c.function)
		if got != c.want || ok != c.ok {
			t.Errorf("exportedMethod(%q) = %q, %v; want %q, %v", c.function, got, ok, c.want, c.ok)
		}
	}
}
