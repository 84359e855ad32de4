// Package check holds the input checks both SQL back ends make before they
// touch the database, so that they reject the same values with the same
// errors: MySQL would refuse an over-long or invalid UTF-8 key with an
// opaque error of its own, and SQLite would accept it.
package check

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/parleychat/parley/storage"
)

// maxMechanismLength bounds ScramCredential.Mechanism, in bytes; the longest
// registered SCRAM name, SCRAM-SHA3-512-PLUS, is 19.
const maxMechanismLength = 64

// Username checks an account name or roster owner.
func Username(username string) error {
	return key("username", username, storage.MaxUsernameLength)
}

// JID checks a bare JID that is part of a key (roster item, pending
// subscription).
func JID(jid string) error {
	return key("JID", jid, storage.MaxJIDLength)
}

func key(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	case utf8.RuneCountInString(s) > max:
		return fmt.Errorf("%s is longer than %d characters", what, max)
	}
	return nil
}

// Credentials checks the credentials given for one account: at most one per
// mechanism, each complete.
func Credentials(creds []storage.ScramCredential) error {
	seen := make(map[string]bool, len(creds))
	for _, c := range creds {
		switch {
		case c.Mechanism == "" || len(c.Mechanism) > maxMechanismLength:
			return fmt.Errorf("credential mechanism %q: must be 1 to %d bytes", c.Mechanism, maxMechanismLength)
		case seen[c.Mechanism]:
			return fmt.Errorf("credential mechanism %s given twice", c.Mechanism)
		case c.Iterations <= 0:
			return fmt.Errorf("credential %s: iteration count %d is not positive", c.Mechanism, c.Iterations)
		case len(c.Salt) == 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0:
			return fmt.Errorf("credential %s: salt, StoredKey and ServerKey must not be empty", c.Mechanism)
		}
		seen[c.Mechanism] = true
	}
	return nil
}

// maxRealmLength bounds DigestCredential.Realm, in characters: a domain
// name, which DNS keeps to 253.
const maxRealmLength = 255

// maxHA1Length bounds DigestCredential.HA1, in bytes: the hex of a 512-bit
// hash.
const maxHA1Length = 128

// DigestCredentials checks SIP digest credentials before they are stored:
// realm, algorithm and HA1 present and bounded, HA1 lowercase hex, and at
// most one per realm and algorithm.
func DigestCredentials(creds []storage.DigestCredential) error {
	type key struct{ realm, algorithm string }
	seen := make(map[key]bool, len(creds))
	for _, c := range creds {
		k := key{c.Realm, c.Algorithm}
		switch {
		case c.Realm == "" || !utf8.ValidString(c.Realm) || utf8.RuneCountInString(c.Realm) > maxRealmLength:
			return fmt.Errorf("digest credential realm %.40q: must be 1 to %d characters of UTF-8", c.Realm, maxRealmLength)
		case c.Algorithm == "" || len(c.Algorithm) > maxMechanismLength:
			return fmt.Errorf("digest credential algorithm %.40q: must be 1 to %d bytes", c.Algorithm, maxMechanismLength)
		case seen[k]:
			return fmt.Errorf("digest credential for realm %s and algorithm %s given twice", c.Realm, c.Algorithm)
		case c.HA1 == "" || len(c.HA1) > maxHA1Length || strings.Trim(c.HA1, "0123456789abcdef") != "":
			return fmt.Errorf("digest credential %s/%s: HA1 must be 1 to %d lowercase hex digits", c.Realm, c.Algorithm, maxHA1Length)
		}
		seen[k] = true
	}
	return nil
}

// RosterItem checks an item before it is stored.
func RosterItem(item storage.RosterItem) error {
	if err := Username(item.Owner); err != nil {
		return err
	}
	if err := JID(item.JID); err != nil {
		return err
	}
	switch item.Subscription {
	case storage.SubscriptionNone, storage.SubscriptionTo, storage.SubscriptionFrom, storage.SubscriptionBoth:
	default:
		return fmt.Errorf("subscription %q is not one of none, to, from, both (RFC 6121 §2.1.2.5)", item.Subscription)
	}
	if !utf8.ValidString(item.Name) {
		return fmt.Errorf("roster item name %q is not valid UTF-8", item.Name)
	}
	for _, g := range item.Groups {
		if g == "" || !utf8.ValidString(g) {
			return fmt.Errorf("roster group %q is empty or not valid UTF-8", g)
		}
	}
	return nil
}
