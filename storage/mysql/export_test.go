package mysql

import "github.com/parleychat/parley/storage"

// SetBeforeCaptureCommit makes s call f inside each capture transaction,
// just before its commit (tests only).
func SetBeforeCaptureCommit(s *ComplianceStore, f func(evs []storage.OutboxEvent)) {
	s.beforeCaptureCommit = f
}
