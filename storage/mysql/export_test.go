package mysql

import (
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// SetBeforeCaptureCommit makes s call f inside each capture transaction,
// just before its commit (tests only).
func SetBeforeCaptureCommit(s *ComplianceStore, f func(evs []storage.OutboxEvent)) {
	sqlstore.SetBeforeCaptureCommit(s.ComplianceStore, f)
}
