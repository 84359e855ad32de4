package mysql

import (
	"database/sql"
	"errors"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/sqlstore"
)

// MySQL and MariaDB error numbers this package acts on.
const (
	erDupEntry         = 1062 // ER_DUP_ENTRY: duplicate key
	erNoReferencedRow2 = 1452 // ER_NO_REFERENCED_ROW_2: foreign key parent missing
	erRowIsReferenced2 = 1451 // ER_ROW_IS_REFERENCED_2: foreign key children exist
	erLockDeadlock     = 1213 // ER_LOCK_DEADLOCK: transaction rolled back
	erBadDB            = 1049 // ER_BAD_DB_ERROR: unknown database
)

// dialect is the SQL of MySQL and MariaDB where it differs from SQLite's
// (see the package comment for the locking): many writers, each locking the
// rows it depends on; write transactions at READ COMMITTED, run again when
// InnoDB picks them as a deadlock victim; read transactions on one
// REPEATABLE READ snapshot; DATETIME(6) times; ON DUPLICATE KEY UPDATE; the
// server's clock, which every node of a pool shares.
func dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:      "storage/mysql",
		ForUpdate: " FOR UPDATE",
		ForShare:  " LOCK IN SHARE MODE",
		WriteTx:   &sql.TxOptions{Isolation: sql.LevelReadCommitted},
		ReadTx:    &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		Retry:     func(err error) bool { return errorNumber(err) == erLockDeadlock },
		Constraint: func(err error) error {
			switch errorNumber(err) {
			case erDupEntry:
				return storage.ErrExists
			case erNoReferencedRow2:
				return storage.ErrNotFound
			case erRowIsReferenced2:
				return storage.ErrNotEmpty
			}
			return nil
		},
		// An empty set assigns the first key column to itself rather than
		// using INSERT IGNORE, which would also turn a value that does not
		// fit into a warning and store it truncated. Without
		// CLIENT_FOUND_ROWS such a row counts 0 affected rows.
		Upsert: func(key, set string) string {
			if set == "" {
				first, _, _ := strings.Cut(key, ",")
				set = first + " = " + first
			}
			return "ON DUPLICATE KEY UPDATE " + set
		},
		Inserted: func(col string) string { return "VALUES(" + col + ")" },
		Clock:    "SELECT NOW(6)",
	}
}

// errorNumber returns the MySQL error number of err, or 0.
func errorNumber(err error) uint16 {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}
