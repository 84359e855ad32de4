package config

import "strings"

// RedactDSN hides the password in a mysql: DSN (user:password@tcp(host)/db)
// so that a --storage or --compliance-storage value can be printed and
// logged.
func RedactDSN(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "mysql:")
	if !ok {
		return dsn
	}
	// Parsed the way go-sql-driver/mysql does: the last '/' ends the
	// address, the last '@' before it ends the credentials.
	slash := strings.LastIndexByte(rest, '/')
	if slash < 0 {
		return dsn
	}
	at := strings.LastIndexByte(rest[:slash], '@')
	if at < 0 {
		return dsn
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return dsn
	}
	return "mysql:" + user + ":xxxxx" + rest[at:]
}
