package sqlstore

import (
	"context"
	"errors"
)

// SharedSecret implements storage.Secrets: the first caller's generated
// secret is kept (an insert that leaves an existing row alone), and every
// caller reads back the one stored, so every node of a pool and every
// restart gets the same.
func (s *Store) SharedSecret(ctx context.Context, name string, generate func() []byte) ([]byte, error) {
	if name == "" {
		return nil, s.wrap(errors.New("empty name"), "shared secret")
	}
	if _, err := s.writes().ExecContext(ctx,
		`INSERT INTO pool_secrets (name, secret) VALUES (?, ?) `+s.d.Upsert("name", ""), name, generate()); err != nil {
		return nil, s.wrap(s.mapError(err), "shared secret %q", name)
	}
	var b []byte
	if err := s.reads().QueryRowContext(ctx, `SELECT secret FROM pool_secrets WHERE name = ?`, name).Scan(&b); err != nil {
		return nil, s.wrap(err, "shared secret %q", name)
	}
	return b, nil
}
