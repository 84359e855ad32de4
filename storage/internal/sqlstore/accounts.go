package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// CreateAccount implements storage.Accounts.
func (s *Store) CreateAccount(ctx context.Context, username string, creds []storage.ScramCredential, digest []storage.DigestCredential, ev *storage.OutboxEvent) error {
	if err := check.Username(username); err != nil {
		return s.wrap(err, "create account")
	}
	if err := errors.Join(check.Credentials(creds), check.DigestCredentials(digest), checkEvent(ev)); err != nil {
		return s.wrap(err, "create account %s", username)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO accounts (username, created_at) VALUES (?, ?)`, username, s.t(time.Now()))
		if err != nil {
			return s.mapError(err)
		}
		if err := s.insertCredentials(ctx, tx, username, creds, digest); err != nil {
			return err
		}
		return s.writeEventIf(ctx, tx, ev)
	})
	return s.wrap(err, "create account %s", username)
}

// SetCredentials implements storage.Accounts.
func (s *Store) SetCredentials(ctx context.Context, username string, creds []storage.ScramCredential, digest []storage.DigestCredential, ev *storage.OutboxEvent) error {
	if err := errors.Join(check.Credentials(creds), check.DigestCredentials(digest), checkEvent(ev)); err != nil {
		return s.wrap(err, "set credentials of %s", username)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, username); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM scram_credentials WHERE username = ?`, username); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM sip_credentials WHERE username = ?`, username); err != nil {
			return err
		}
		// FAST tokens (XEP-0484) were given for the old password: a
		// new password, or none (a disabled account), ends them.
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM fast_tokens WHERE owner = ?`, username); err != nil {
			return err
		}
		if err := s.insertCredentials(ctx, tx, username, creds, digest); err != nil {
			return err
		}
		return s.writeEventIf(ctx, tx, ev)
	})
	return s.wrap(err, "set credentials of %s", username)
}

func (s *Store) insertCredentials(ctx context.Context, tx *sql.Tx, username string, creds []storage.ScramCredential, digest []storage.DigestCredential) error {
	for _, c := range creds {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO scram_credentials (username, mechanism, salt, iterations, stored_key, server_key)
			VALUES (?, ?, ?, ?, ?, ?)`,
			username, c.Mechanism, c.Salt, c.Iterations, c.StoredKey, c.ServerKey)
		if err != nil {
			return fmt.Errorf("store %s credential: %w", c.Mechanism, s.mapError(err))
		}
	}
	for _, d := range digest {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO sip_credentials (username, realm, algorithm, ha1)
			VALUES (?, ?, ?, ?)`,
			username, d.Realm, d.Algorithm, d.HA1)
		if err != nil {
			return fmt.Errorf("store %s digest credential: %w", d.Algorithm, s.mapError(err))
		}
	}
	return nil
}

// DeleteAccount implements storage.Accounts. The schema's ON DELETE CASCADE
// removes the credentials, roster, pending subscriptions and offline
// messages with the account.
func (s *Store) DeleteAccount(ctx context.Context, username string, ev *storage.OutboxEvent) error {
	if err := checkEvent(ev); err != nil {
		return s.wrap(err, "delete account %s", username)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := affected(tx.ExecContext(ctx, `DELETE FROM accounts WHERE username = ?`, username)); err != nil {
			return err
		}
		return s.writeEventIf(ctx, tx, ev)
	})
	return s.wrap(err, "delete account %s", username)
}

// Account implements storage.Accounts.
func (s *Store) Account(ctx context.Context, username string) (storage.Account, error) {
	a := storage.Account{Username: username}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			`SELECT created_at FROM accounts WHERE username = ?`, username).Scan(scanTime(&a.Created))
		if errors.Is(err, sql.ErrNoRows) {
			return storage.ErrNotFound
		} else if err != nil {
			return err
		}
		a.Credentials, err = collect(ctx, tx, func(row scanner) (c storage.ScramCredential, err error) {
			return c, row.Scan(&c.Mechanism, &c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
		}, `
			SELECT mechanism, salt, iterations, stored_key, server_key
			FROM scram_credentials
			WHERE username = ?
			ORDER BY mechanism`, username)
		if err != nil {
			return err
		}
		a.Digest, err = collect(ctx, tx, func(row scanner) (d storage.DigestCredential, err error) {
			return d, row.Scan(&d.Realm, &d.Algorithm, &d.HA1)
		}, `
			SELECT realm, algorithm, ha1
			FROM sip_credentials
			WHERE username = ?
			ORDER BY realm, algorithm`, username)
		return err
	})
	if err != nil {
		return storage.Account{}, s.wrap(err, "account %s", username)
	}
	return a, nil
}

// ListAccounts implements storage.Accounts.
func (s *Store) ListAccounts(ctx context.Context) ([]string, error) {
	names, err := collect(ctx, s.reads(), func(row scanner) (name string, err error) {
		return name, row.Scan(&name)
	}, `SELECT username FROM accounts ORDER BY username`)
	return names, s.wrap(err, "list accounts")
}

// ScramCredential implements storage.Accounts.
func (s *Store) ScramCredential(ctx context.Context, username, mechanism string) (storage.ScramCredential, error) {
	c := storage.ScramCredential{Mechanism: mechanism}
	err := s.reads().QueryRowContext(ctx, `
		SELECT salt, iterations, stored_key, server_key
		FROM scram_credentials
		WHERE username = ? AND mechanism = ?`,
		username, mechanism).Scan(&c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
	if err != nil {
		return storage.ScramCredential{}, s.wrap(notFound(err), "%s credential of %s", mechanism, username)
	}
	return c, nil
}

// DigestCredential implements storage.Accounts.
func (s *Store) DigestCredential(ctx context.Context, username, realm, algorithm string) (storage.DigestCredential, error) {
	d := storage.DigestCredential{Realm: realm, Algorithm: algorithm}
	err := s.reads().QueryRowContext(ctx, `
		SELECT ha1
		FROM sip_credentials
		WHERE username = ? AND realm = ? AND algorithm = ?`,
		username, realm, algorithm).Scan(&d.HA1)
	if err != nil {
		return storage.DigestCredential{}, s.wrap(notFound(err), "%s digest credential of %s in %s", algorithm, username, realm)
	}
	return d, nil
}
