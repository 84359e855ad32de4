package check

import (
	"fmt"
	"slices"

	"github.com/parleychat/parley/storage"
)

// PubSubNode checks a node's key and configuration before it is stored.
func PubSubNode(n storage.PubSubNode) error {
	if err := Username(n.Owner); err != nil {
		return err
	}
	if err := key("node name", n.Name, storage.MaxPubSubNodeNameLength); err != nil {
		return err
	}
	if !slices.Contains([]string{storage.AccessOpen, storage.AccessPresence, storage.AccessWhitelist}, n.AccessModel) {
		return fmt.Errorf("node %s: unknown access model %q", n.Name, n.AccessModel)
	}
	if !slices.Contains([]string{storage.SendLastNever, storage.SendLastOnSub, storage.SendLastOnSubAndPresence}, n.SendLast) {
		return fmt.Errorf("node %s: unknown send_last_published_item %q", n.Name, n.SendLast)
	}
	if n.MaxItems < 1 || n.MaxItems > storage.MaxPubSubItemsPerNode {
		return fmt.Errorf("node %s: max_items %d is not from 1 to %d", n.Name, n.MaxItems, storage.MaxPubSubItemsPerNode)
	}
	return nil
}

// PubSubKey checks an owner and node name.
func PubSubKey(owner, node string) error {
	if err := Username(owner); err != nil {
		return err
	}
	return key("node name", node, storage.MaxPubSubNodeNameLength)
}

// PubSubItemID checks an item's ID.
func PubSubItemID(id string) error {
	return key("item ID", id, storage.MaxPubSubItemIDLength)
}

// PrivateXMLKey checks an owner and the key of a private XML element.
func PrivateXMLKey(owner, k string) error {
	if err := Username(owner); err != nil {
		return err
	}
	return key("private XML key", k, storage.MaxPrivateXMLKeyLength)
}
