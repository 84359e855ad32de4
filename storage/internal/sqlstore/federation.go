package sqlstore

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/parleychat/parley/storage"
)

// PutS2SStatus implements storage.FederationStatus: the node's row holds
// its link table as JSON.
func (s *Store) PutS2SStatus(ctx context.Context, st storage.S2SStatus) error {
	if st.Node == "" {
		return s.wrap(errors.New("empty node name"), "s2s status")
	}
	b, err := json.Marshal(st)
	if err != nil {
		return s.wrap(err, "s2s status of %q", st.Node)
	}
	if _, err := s.writes().ExecContext(ctx,
		`INSERT INTO s2s_status (node, status) VALUES (?, ?) `+s.upsert("node", "status"), st.Node, b); err != nil {
		return s.wrap(s.mapError(err), "s2s status of %q", st.Node)
	}
	return nil
}

// S2SStatuses implements storage.FederationStatus.
func (s *Store) S2SStatuses(ctx context.Context) ([]storage.S2SStatus, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT status FROM s2s_status ORDER BY node`)
	if err != nil {
		return nil, s.wrap(err, "s2s statuses")
	}
	defer rows.Close()
	var out []storage.S2SStatus
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, s.wrap(err, "s2s statuses")
		}
		var st storage.S2SStatus
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, s.wrap(err, "s2s statuses")
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "s2s statuses")
	}
	return out, nil
}
