package xmpp

import (
	"fmt"
	"time"
)

// LiveLimits are the limits of Config that may change while the server
// runs (SetLiveLimits; parleyd calls it on SIGHUP). Each is read where it
// applies — a new connection, a TLS handshake, a failed login, a resource
// binding, an offline message — so a change reaches what starts after it
// and cuts off nothing that runs: a stream keeps the stanza size limit
// it started with.
type LiveLimits struct {
	MaxStanzaSize       int64
	UnauthTimeout       time.Duration
	MaxAuthFailures     int
	AuthFailureDelay    time.Duration
	MaxOfflineMessages  int
	MaxResourcesPerUser int
}

// withDefaults fills zero values with the defaults and checks the rest.
func (l LiveLimits) withDefaults() (LiveLimits, error) {
	setDefault(&l.MaxStanzaSize, DefaultMaxStanzaSize)
	setDefault(&l.UnauthTimeout, DefaultUnauthTimeout)
	setDefault(&l.MaxAuthFailures, DefaultMaxAuthFailures)
	setDefault(&l.AuthFailureDelay, DefaultAuthFailureDelay)
	setDefault(&l.MaxOfflineMessages, DefaultMaxOfflineMessages)
	setDefault(&l.MaxResourcesPerUser, DefaultMaxResourcesPerUser)
	if l.MaxStanzaSize < 4096 {
		return l, fmt.Errorf("xmpp: MaxStanzaSize %d is below the 4096 bytes a client may rely on (RFC 6120 §13.12)", l.MaxStanzaSize)
	}
	return l, nil
}

// liveLimits are the live limits cfg starts with.
func (c *Config) liveLimits() LiveLimits {
	return LiveLimits{
		MaxStanzaSize:       c.MaxStanzaSize,
		UnauthTimeout:       c.UnauthTimeout,
		MaxAuthFailures:     c.MaxAuthFailures,
		AuthFailureDelay:    c.AuthFailureDelay,
		MaxOfflineMessages:  c.MaxOfflineMessages,
		MaxResourcesPerUser: c.MaxResourcesPerUser,
	}
}

// SetLiveLimits replaces the live limits; zero values take the defaults,
// as in Config. An invalid value changes nothing.
func (s *Server) SetLiveLimits(l LiveLimits) error {
	l, err := l.withDefaults()
	if err != nil {
		return err
	}
	s.live.Store(&l)
	s.metrics.setLiveLimits(&l)
	return nil
}

// limit returns the live limits in force now.
func (s *Server) limit() *LiveLimits { return s.live.Load() }
