package check

import (
	"fmt"

	"github.com/parleychat/parley/storage"
)

// Follow checks a topic-feed follow before it is stored.
func Follow(f storage.Follow) error {
	if err := JID(f.User); err != nil {
		return err
	}
	if err := RoomName(f.Room); err != nil {
		return err
	}
	if len(f.Keywords) > storage.MaxKeywords {
		return fmt.Errorf("%d keywords: at most %d are allowed", len(f.Keywords), storage.MaxKeywords)
	}
	for _, k := range f.Keywords {
		if err := key("keyword", k, storage.MaxKeywordLength); err != nil {
			return err
		}
	}
	return nil
}
