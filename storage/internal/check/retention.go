package check

import (
	"errors"
	"fmt"

	"github.com/parleychat/parley/storage"
)

// HoldKey checks a hold's kind and name.
func HoldKey(kind, name string) error {
	switch kind {
	case storage.HoldUser:
		return key("held user", name, storage.MaxJIDLength)
	case storage.HoldRoom:
		return key("held room", name, storage.MaxRoomNameLength)
	}
	return fmt.Errorf("hold kind %q is neither %q nor %q", kind, storage.HoldUser, storage.HoldRoom)
}

// Hold checks a hold.
func Hold(h storage.Hold) error {
	return errors.Join(HoldKey(h.Kind, h.Name), text("hold reason", h.Reason), text("hold actor", h.Actor))
}

// HistoryPurge checks a purge of history.
func HistoryPurge(p storage.HistoryPurge) error {
	switch {
	case p.Limit <= 0:
		return fmt.Errorf("purge limit %d is not positive", p.Limit)
	case p.Event == nil:
		return errors.New("purge without an event")
	case p.Before.IsZero():
		return errors.New("purge without a time")
	}
	return RoomName(p.Room)
}
