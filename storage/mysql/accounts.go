package mysql

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
func (s *Store) CreateAccount(ctx context.Context, username string, creds []storage.ScramCredential, digest ...storage.DigestCredential) error {
	if err := check.Username(username); err != nil {
		return fmt.Errorf("storage/mysql: create account: %w", err)
	}
	if err := check.Credentials(creds); err != nil {
		return fmt.Errorf("storage/mysql: create account %s: %w", username, err)
	}
	if err := check.DigestCredentials(digest); err != nil {
		return fmt.Errorf("storage/mysql: create account %s: %w", username, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO accounts (username, created_at) VALUES (?, ?)`,
			username, time.Now().UTC())
		if err != nil {
			return mapError(err)
		}
		return insertCredentials(ctx, tx, username, creds, digest)
	})
	if err != nil {
		return fmt.Errorf("storage/mysql: create account %s: %w", username, err)
	}
	return nil
}

// SetCredentials implements storage.Accounts.
func (s *Store) SetCredentials(ctx context.Context, username string, creds []storage.ScramCredential, digest ...storage.DigestCredential) error {
	if err := check.Credentials(creds); err != nil {
		return fmt.Errorf("storage/mysql: set credentials of %s: %w", username, err)
	}
	if err := check.DigestCredentials(digest); err != nil {
		return fmt.Errorf("storage/mysql: set credentials of %s: %w", username, err)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, username); err != nil {
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
		return insertCredentials(ctx, tx, username, creds, digest)
	})
	if err != nil {
		return fmt.Errorf("storage/mysql: set credentials of %s: %w", username, err)
	}
	return nil
}

func insertCredentials(ctx context.Context, tx *sql.Tx, username string, creds []storage.ScramCredential, digest []storage.DigestCredential) error {
	for _, c := range creds {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO scram_credentials (username, mechanism, salt, iterations, stored_key, server_key)
			VALUES (?, ?, ?, ?, ?, ?)`,
			username, c.Mechanism, c.Salt, c.Iterations, c.StoredKey, c.ServerKey)
		if err != nil {
			return fmt.Errorf("store %s credential: %w", c.Mechanism, mapError(err))
		}
	}
	for _, d := range digest {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO sip_credentials (username, realm, algorithm, ha1)
			VALUES (?, ?, ?, ?)`,
			username, d.Realm, d.Algorithm, d.HA1)
		if err != nil {
			return fmt.Errorf("store %s digest credential: %w", d.Algorithm, mapError(err))
		}
	}
	return nil
}

// DeleteAccount implements storage.Accounts. The schema's ON DELETE CASCADE
// removes the credentials, roster, pending subscriptions and offline
// messages with the account.
func (s *Store) DeleteAccount(ctx context.Context, username string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE username = ?`, username)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage/mysql: delete account %s: %w", username, err)
	}
	return nil
}

// Account implements storage.Accounts.
func (s *Store) Account(ctx context.Context, username string) (storage.Account, error) {
	a := storage.Account{Username: username}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			`SELECT created_at FROM accounts WHERE username = ?`, username).Scan(&a.Created)
		if errors.Is(err, sql.ErrNoRows) {
			return storage.ErrNotFound
		} else if err != nil {
			return err
		}

		rows, err := tx.QueryContext(ctx, `
			SELECT mechanism, salt, iterations, stored_key, server_key
			FROM scram_credentials
			WHERE username = ?
			ORDER BY mechanism`, username)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c storage.ScramCredential
			if err := rows.Scan(&c.Mechanism, &c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey); err != nil {
				return err
			}
			a.Credentials = append(a.Credentials, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()

		rows, err = tx.QueryContext(ctx, `
			SELECT realm, algorithm, ha1
			FROM sip_credentials
			WHERE username = ?
			ORDER BY realm, algorithm`, username)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d storage.DigestCredential
			if err := rows.Scan(&d.Realm, &d.Algorithm, &d.HA1); err != nil {
				return err
			}
			a.Digest = append(a.Digest, d)
		}
		return rows.Err()
	})
	if err != nil {
		return storage.Account{}, fmt.Errorf("storage/mysql: account %s: %w", username, err)
	}
	return a, nil
}

// ListAccounts implements storage.Accounts.
func (s *Store) ListAccounts(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username FROM accounts ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("storage/mysql: list accounts: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("storage/mysql: list accounts: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage/mysql: list accounts: %w", err)
	}
	return names, nil
}

// ScramCredential implements storage.Accounts.
func (s *Store) ScramCredential(ctx context.Context, username, mechanism string) (storage.ScramCredential, error) {
	c := storage.ScramCredential{Mechanism: mechanism}
	err := s.db.QueryRowContext(ctx, `
		SELECT salt, iterations, stored_key, server_key
		FROM scram_credentials
		WHERE username = ? AND mechanism = ?`,
		username, mechanism).Scan(&c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.ScramCredential{}, fmt.Errorf("storage/mysql: %s credential of %s: %w", mechanism, username, err)
	}
	return c, nil
}

// DigestCredential implements storage.Accounts.
func (s *Store) DigestCredential(ctx context.Context, username, realm, algorithm string) (storage.DigestCredential, error) {
	d := storage.DigestCredential{Realm: realm, Algorithm: algorithm}
	err := s.db.QueryRowContext(ctx, `
		SELECT ha1
		FROM sip_credentials
		WHERE username = ? AND realm = ? AND algorithm = ?`,
		username, realm, algorithm).Scan(&d.HA1)
	if errors.Is(err, sql.ErrNoRows) {
		err = storage.ErrNotFound
	}
	if err != nil {
		return storage.DigestCredential{}, fmt.Errorf("storage/mysql: %s digest credential of %s in %s: %w", algorithm, username, realm, err)
	}
	return d, nil
}
