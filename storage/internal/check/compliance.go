package check

import (
	"errors"
	"fmt"
	"time"

	"github.com/parleychat/parley/storage"
)

// CapturedEvent checks an outbox event about to be stored in the
// compliance database: as Event does, and its ID and Time must be set (the
// outbox assigned them).
func CapturedEvent(ev storage.OutboxEvent) error {
	if err := Event(ev); err != nil {
		return err
	}
	if ev.Time.IsZero() {
		return fmt.Errorf("event %s: zero time", ev.EventID)
	}
	if ev.ID < 0 {
		return fmt.Errorf("event %s: negative outbox id %d", ev.EventID, ev.ID)
	}
	return short("event target", ev.Target, storage.MaxJIDLength)
}

// Lease checks a lease name and holder.
func Lease(name, holder string) error {
	if err := key("lease name", name, storage.MaxLeaseNameLength); err != nil {
		return err
	}
	return key("lease holder", holder, storage.MaxLeaseHolderLength)
}

// LeaseTTL checks the duration a lease is taken for: at least a
// millisecond, the precision the databases keep.
func LeaseTTL(ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("lease duration %v is under a millisecond", ttl)
	}
	return nil
}

// ComplianceQuery checks a query of the compliance database.
func ComplianceQuery(q storage.ComplianceQuery) error {
	if q.Limit <= 0 {
		return fmt.Errorf("limit %d is not positive", q.Limit)
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return fmt.Errorf("time range %v to %v ends before it starts", q.From, q.To)
	}
	if q.OutsideRooms && q.Room != "" {
		return fmt.Errorf("room %q selected with the events outside rooms", q.Room)
	}
	return texts("room", q.Room, "actor", q.Actor, "user", q.User)
}

// AdapterPosition checks an adapter position before it is stored.
func AdapterPosition(p storage.AdapterPosition) error {
	if err := key("adapter name", p.Name, storage.MaxAdapterNameLength); err != nil {
		return err
	}
	if p.Seq < 0 || p.Pending < 0 {
		return fmt.Errorf("adapter %s: negative position %d/%d", p.Name, p.Seq, p.Pending)
	}
	if p.LastRun.Events < 0 {
		return fmt.Errorf("adapter %s: negative event count %d", p.Name, p.LastRun.Events)
	}
	return errors.Join(short("adapter file", p.LastRun.File, storage.MaxAdapterRunText),
		short("adapter error", p.LastRun.Error, storage.MaxAdapterRunText))
}
