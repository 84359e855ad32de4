package sqlstore

import "database/sql"

// Pools returns the store's connection pools by role, for database/sql's
// pool statistics (Prometheus' DBStatsCollector in parleyd): "write" and
// "read" (SQLite: one writer connection, several readers), or "readwrite"
// when one pool does both (MySQL).
func (d *db) Pools() map[string]*sql.DB {
	if d.write == d.read {
		return map[string]*sql.DB{"readwrite": d.write}
	}
	return map[string]*sql.DB{"write": d.write, "read": d.read}
}
