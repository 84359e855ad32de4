package ldapauth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"sync"
	"time"
)

// Cache of good logins (--ldap-cache-ttl): after a successful bind the
// directory keeps, for the TTL, a salted verifier of the password —
// PBKDF2-HMAC-SHA-256 (RFC 8018 §5.2) with a random 16-byte salt, as SCRAM's
// stored credentials are made — and never the password. It is read only
// when the directory cannot be asked: a user who logged in within the TTL
// still can, a wrong password is still refused, and a user with no entry is
// refused at once. While the directory answers, every login asks it, so a
// password changed or an account disabled there holds immediately; a
// refusal from the directory drops the user's entry.

// cacheIterations is the PBKDF2 cost of one cached verifier: what a login
// costs in CPU when the entry is written and when it is checked.
const cacheIterations = 10000

// loginCache maps usernames to verifiers.
type loginCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]verifier
	writes  int // since the last sweep of expired entries
}

type verifier struct {
	salt, key []byte
	at        time.Time
}

func newLoginCache(ttl time.Duration, now func() time.Time) *loginCache {
	return &loginCache{ttl: ttl, now: now, entries: make(map[string]verifier)}
}

func derive(password string, salt []byte) []byte {
	key, err := pbkdf2.Key(sha256.New, password, salt, cacheIterations, sha256.Size)
	if err != nil {
		panic("ldapauth: pbkdf2: " + err.Error()) // only for invalid parameters
	}
	return key
}

// put remembers a good login.
func (c *loginCache) put(username, password string) {
	if c.ttl <= 0 {
		return
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	v := verifier{salt: salt, key: derive(password, salt), at: c.now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[username] = v
	// Sweep expired entries once in a while, so the map holds only users
	// seen within the TTL.
	if c.writes++; c.writes >= 1024 {
		c.writes = 0
		for u, e := range c.entries {
			if c.now().Sub(e.at) >= c.ttl {
				delete(c.entries, u)
			}
		}
	}
}

// forget drops a user's entry (the directory refused them).
func (c *loginCache) forget(username string) {
	c.mu.Lock()
	delete(c.entries, username)
	c.mu.Unlock()
}

// check reports whether the user has a live entry and whether password
// matches it.
func (c *loginCache) check(username, password string) (seen, ok bool) {
	if c.ttl <= 0 {
		return false, false
	}
	c.mu.Lock()
	v, found := c.entries[username]
	if found && c.now().Sub(v.at) >= c.ttl {
		delete(c.entries, username)
		found = false
	}
	c.mu.Unlock()
	if !found {
		return false, false
	}
	return true, subtle.ConstantTimeCompare(derive(password, v.salt), v.key) == 1
}

func (c *loginCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
