package mysql

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	gomysql "github.com/go-sql-driver/mysql"
)

// dumpRecord is one line of a dump: a table's definition (Create), or one
// of its rows (Row: each column's bytes as the server sent them in text,
// nil for NULL).
type dumpRecord struct {
	Table  string    `json:"table"`
	Create string    `json:"create,omitempty"`
	Row    []*[]byte `json:"row,omitempty"`
}

// Dump writes every table of the database dsn names (Parley's tables: the
// content or the compliance database, with their migration versions) to w
// as JSON lines: each table's CREATE TABLE, then its rows. The whole dump
// reads one snapshot: a REPEATABLE READ transaction started WITH
// CONSISTENT SNAPSHOT on one connection, so posts committed while it runs
// are either all in it or not at all, and parleyd keeps serving (InnoDB
// reads take no locks). Large installations may prefer mariadb-dump
// --single-transaction or mariabackup; see the README.
func Dump(ctx context.Context, dsn string, w io.Writer) error {
	db, where, err := openRaw(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("storage/mysql: dump %s: %w", where, err)
	}
	defer conn.Close()
	// The snapshot is taken here, for every table alike.
	for _, stmt := range []string{"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("storage/mysql: dump %s: %s: %w", where, stmt, err)
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	tables, err := listTables(ctx, conn)
	if err != nil {
		return fmt.Errorf("storage/mysql: dump %s: %w", where, err)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	for _, table := range tables {
		var name, create string
		if err := conn.QueryRowContext(ctx, "SHOW CREATE TABLE "+quoteIdentifier(table)).Scan(&name, &create); err != nil {
			return fmt.Errorf("storage/mysql: dump %s: table %s: %w", where, table, err)
		}
		if err := enc.Encode(dumpRecord{Table: table, Create: create}); err != nil {
			return fmt.Errorf("storage/mysql: dump: %w", err)
		}
		if err := dumpRows(ctx, conn, table, enc); err != nil {
			return fmt.Errorf("storage/mysql: dump %s: table %s: %w", where, table, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("storage/mysql: dump: %w", err)
	}
	return nil
}

func listTables(ctx context.Context, tx *sql.Conn) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	return tables, rows.Err()
}

func dumpRows(ctx context.Context, tx *sql.Conn, table string, enc *json.Encoder) error {
	rows, err := tx.QueryContext(ctx, "SELECT * FROM "+quoteIdentifier(table))
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	rec := dumpRecord{Table: table, Row: make([]*[]byte, len(cols))}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		for i, v := range raw {
			if v == nil {
				rec.Row[i] = nil
				continue
			}
			b := []byte(v)
			rec.Row[i] = &b
		}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Restore loads a dump made by Dump into the database dsn names, created
// if missing, which must have no tables yet: a restore goes into an empty
// database. Tables are created as they were and filled row by row; the
// schema is brought up to date by the next Open.
func Restore(ctx context.Context, dsn string, r io.Reader) error {
	c, err := connect(dsn, "", "parley", nil)
	if err != nil {
		return err
	}
	if err := createDatabaseIfMissing(ctx, c); err != nil {
		return fmt.Errorf("storage/mysql: %w", err)
	}
	db, where, err := openRaw(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("storage/mysql: restore %s: %w", where, err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n); err != nil {
		return fmt.Errorf("storage/mysql: restore %s: %w", where, err)
	}
	if n > 0 {
		return fmt.Errorf("storage/mysql: restore: %s has %d tables; restore into an empty database", where, n)
	}
	// Rows go in as they were, ids included (NO_AUTO_VALUE_ON_ZERO keeps
	// an id 0), in table order, so references are checked only at the end.
	for _, set := range []string{"SET foreign_key_checks = 0", "SET unique_checks = 0", "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"} {
		if _, err := conn.ExecContext(ctx, set); err != nil {
			return fmt.Errorf("storage/mysql: restore %s: %s: %w", where, set, err)
		}
	}
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	var batch insertBatch
	for {
		var rec dumpRecord
		if err := dec.Decode(&rec); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("storage/mysql: restore: reading the dump: %w", err)
		}
		if rec.Create != "" {
			if err := batch.flush(ctx, conn); err != nil {
				return fmt.Errorf("storage/mysql: restore %s: table %s: %w", where, batch.table, err)
			}
			if _, err := conn.ExecContext(ctx, rec.Create); err != nil {
				return fmt.Errorf("storage/mysql: restore %s: create table %s: %w", where, rec.Table, err)
			}
			continue
		}
		if rec.Table != batch.table || len(rec.Row) != batch.cols {
			if err := batch.flush(ctx, conn); err != nil {
				return fmt.Errorf("storage/mysql: restore %s: table %s: %w", where, batch.table, err)
			}
			batch = insertBatch{table: rec.Table, cols: len(rec.Row)}
		}
		batch.add(rec.Row)
		if batch.full() {
			if err := batch.flush(ctx, conn); err != nil {
				return fmt.Errorf("storage/mysql: restore %s: table %s: %w", where, batch.table, err)
			}
		}
	}
	if err := batch.flush(ctx, conn); err != nil {
		return fmt.Errorf("storage/mysql: restore %s: table %s: %w", where, batch.table, err)
	}
	for _, set := range []string{"SET foreign_key_checks = 1", "SET unique_checks = 1"} {
		if _, err := conn.ExecContext(ctx, set); err != nil {
			return fmt.Errorf("storage/mysql: restore %s: %s: %w", where, set, err)
		}
	}
	return nil
}

// insertBatch gathers rows of one table into one multi-row INSERT, bounded
// in placeholders and bytes (the server's max_allowed_packet is 16 MiB by
// default).
type insertBatch struct {
	table string
	cols  int
	args  []any
	bytes int
}

func (b *insertBatch) add(row []*[]byte) {
	for _, v := range row {
		if v == nil {
			b.args = append(b.args, nil)
			continue
		}
		b.args = append(b.args, *v)
		b.bytes += len(*v)
	}
}

func (b *insertBatch) full() bool { return len(b.args) >= 20000 || b.bytes >= 4<<20 }

func (b *insertBatch) flush(ctx context.Context, conn *sql.Conn) error {
	if len(b.args) == 0 || b.cols == 0 {
		return nil
	}
	rows := len(b.args) / b.cols
	one := "(?" + repeat(",?", b.cols-1) + ")"
	stmt := "INSERT INTO " + quoteIdentifier(b.table) + " VALUES " + one + repeat(","+one, rows-1)
	if _, err := conn.ExecContext(ctx, stmt, b.args...); err != nil {
		return err
	}
	b.args, b.bytes = b.args[:0], 0
	return nil
}

func repeat(s string, n int) string {
	out := make([]byte, 0, len(s)*max(n, 0))
	for range n {
		out = append(out, s...)
	}
	return string(out)
}

// openRaw opens the database dsn names with the store's connection
// settings but for times, which come and go as the server's text (a dump
// carries each column as the server wrote it).
func openRaw(dsn string) (*sql.DB, string, error) {
	c, err := connect(dsn, "", "parley", func(cfg *gomysql.Config) { cfg.ParseTime = false })
	if err != nil {
		return nil, "", err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	return db, c.where, nil
}
