package mysql

import (
	"database/sql"
	"errors"
	"strings"
	"unicode/utf8"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/fulltext"
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
// server's clock, which every node of a pool shares. Open adds
// MatchHistory, which depends on the server's full-text settings.
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

// matchTable is, on history (and the same way on an account's archive,
// user_archive, whose FULLTEXT index is built alike), a MATCH … AGAINST in BOOLEAN MODE with every word
// required (+word*, matched as a word or the start of one) and every symbol
// word required exactly: natural-language mode would rank messages with any
// of the words and drop words found in half the rows. MySQL answers it from
// the FULLTEXT index first. Words the index does not hold (shorter than
// innodb_ft_min_token_size, ftMin, or longer than innodb_ft_max_token_size,
// ftMax) are required with LIKE, which the body's collation makes case- and
// accent-insensitive; a search of only such words scans the room's
// history, newest or oldest first, until the page is full. Pages follow
// order.
func matchTable(table, order string, terms []fulltext.Term, ftMin, ftMax int) sqlstore.HistoryMatch {
	var (
		where []string
		args  []any
		match []string
	)
	for _, t := range terms {
		if n := utf8.RuneCountInString(t.Word); n >= ftMin && n <= ftMax {
			if t.Symbol {
				match = append(match, "+"+t.Word)
			} else {
				match = append(match, "+"+t.Word+"*")
			}
			continue
		}
		like := t.Word
		if t.Symbol {
			like = t.Raw
		}
		where = append(where, `h.body LIKE ? ESCAPE '!'`)
		args = append(args, "%"+escapeLike(like)+"%")
	}
	if len(match) > 0 {
		where = append(where, `MATCH (h.body, h.symbols) AGAINST (? IN BOOLEAN MODE)`)
		args = append(args, strings.Join(match, " "))
	}
	return sqlstore.HistoryMatch{From: table + " AS h", Where: strings.Join(where, " AND "), Args: args, Order: order}
}

// escapeLike escapes LIKE's wildcards in s for ESCAPE '!'.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// errorNumber returns the MySQL error number of err, or 0.
func errorNumber(err error) uint16 {
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}
