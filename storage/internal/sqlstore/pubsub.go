package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/internal/check"
)

// Personal eventing nodes (storage.PubSub). A node's writes lock its
// owner's account row first (lockAccount), so that on MySQL two publishes
// to one account never interleave their trims.

const nodeCols = `owner, name, access_model, max_items, persist_items, send_last, created_at`

func scanNode(row scanner) (storage.PubSubNode, error) {
	var (
		n       storage.PubSubNode
		persist bool
	)
	err := row.Scan(&n.Owner, &n.Name, &n.AccessModel, &n.MaxItems, &persist, &n.SendLast, scanTime(&n.Created))
	n.PersistItems = persist
	return n, err
}

// PubSubNode implements storage.PubSub.
func (s *Store) PubSubNode(ctx context.Context, owner, name string) (storage.PubSubNode, error) {
	n, err := scanNode(s.reads().QueryRowContext(ctx,
		`SELECT `+nodeCols+` FROM pubsub_nodes WHERE owner = ? AND name = ?`, owner, name))
	if err != nil {
		return storage.PubSubNode{}, s.wrap(notFound(err), "pubsub node %s of %s", name, owner)
	}
	return n, nil
}

// PubSubNodes implements storage.PubSub.
func (s *Store) PubSubNodes(ctx context.Context, owner string) ([]storage.PubSubNode, error) {
	out, err := collect(ctx, s.reads(), scanNode,
		`SELECT `+nodeCols+` FROM pubsub_nodes WHERE owner = ? ORDER BY name`, owner)
	return out, s.wrap(err, "pubsub nodes of %s", owner)
}

// CreatePubSubNode implements storage.PubSub.
func (s *Store) CreatePubSubNode(ctx context.Context, n storage.PubSubNode) error {
	if err := check.PubSubNode(n); err != nil {
		return s.wrap(err, "create pubsub node")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, n.Owner); err != nil {
			return err
		}
		return s.insertNode(ctx, tx, n)
	})
	return s.wrap(err, "create pubsub node %s of %s", n.Name, n.Owner)
}

func (s *Store) insertNode(ctx context.Context, tx *sql.Tx, n storage.PubSubNode) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO pubsub_nodes (`+nodeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		n.Owner, n.Name, n.AccessModel, n.MaxItems, n.PersistItems, n.SendLast, s.t(orNow(n.Created, time.Now())))
	return s.mapError(err)
}

// ConfigurePubSubNode implements storage.PubSub.
func (s *Store) ConfigurePubSubNode(ctx context.Context, n storage.PubSubNode) error {
	if err := check.PubSubNode(n); err != nil {
		return s.wrap(err, "configure pubsub node")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, n.Owner); err != nil {
			return storage.ErrNotFound
		}
		if err := affected(tx.ExecContext(ctx, `
			UPDATE pubsub_nodes SET access_model = ?, max_items = ?, persist_items = ?, send_last = ?
			WHERE owner = ? AND name = ?`,
			n.AccessModel, n.MaxItems, n.PersistItems, n.SendLast, n.Owner, n.Name)); err != nil {
			// An update to the same values changes no row on MySQL:
			// tell that apart from no node.
			if _, gerr := s.nodeIn(ctx, tx, n.Owner, n.Name); gerr != nil {
				return gerr
			}
		}
		return s.trimItems(ctx, tx, n)
	})
	return s.wrap(err, "configure pubsub node %s of %s", n.Name, n.Owner)
}

func (s *Store) nodeIn(ctx context.Context, tx *sql.Tx, owner, name string) (storage.PubSubNode, error) {
	n, err := scanNode(tx.QueryRowContext(ctx,
		`SELECT `+nodeCols+` FROM pubsub_nodes WHERE owner = ? AND name = ?`+s.d.ForUpdate, owner, name))
	return n, notFound(err)
}

// keeps is how many items a node keeps.
func keeps(n storage.PubSubNode) int {
	if !n.PersistItems {
		return 1
	}
	return n.MaxItems
}

// trimItems drops a node's items beyond what it keeps, oldest first.
func (s *Store) trimItems(ctx context.Context, tx *sql.Tx, n storage.PubSubNode) error {
	ids, err := collect(ctx, tx, func(row scanner) (int64, error) {
		var id int64
		return id, row.Scan(&id)
	}, `SELECT id FROM pubsub_items WHERE owner = ? AND node = ? ORDER BY id DESC`, n.Owner, n.Name)
	if err != nil || len(ids) <= keeps(n) {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE owner = ? AND node = ? AND id <= ?`,
		n.Owner, n.Name, ids[keeps(n)])
	return err
}

// DeletePubSubNode implements storage.PubSub.
func (s *Store) DeletePubSubNode(ctx context.Context, owner, name string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE owner = ? AND node = ?`, owner, name); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `DELETE FROM pubsub_nodes WHERE owner = ? AND name = ?`, owner, name))
	})
	return s.wrap(err, "delete pubsub node %s of %s", name, owner)
}

// PublishPubSubItem implements storage.PubSub.
func (s *Store) PublishPubSubItem(ctx context.Context, it storage.PubSubItem, create *storage.PubSubNode) (storage.PubSubNode, error) {
	err := errors.Join(check.PubSubKey(it.Owner, it.Node), check.PubSubItemID(it.ID))
	if err == nil && create != nil {
		c := *create
		c.Owner, c.Name = it.Owner, it.Node
		err = check.PubSubNode(c)
	}
	if err != nil {
		return storage.PubSubNode{}, s.wrap(err, "publish pubsub item")
	}
	var n storage.PubSubNode
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockAccount(ctx, tx, it.Owner); err != nil {
			return err
		}
		var err error
		n, err = s.nodeIn(ctx, tx, it.Owner, it.Node)
		switch {
		case errors.Is(err, storage.ErrNotFound) && create != nil:
			n = *create
			n.Owner, n.Name, n.Created = it.Owner, it.Node, orNow(n.Created, time.Now().UTC().Truncate(time.Microsecond))
			if err := s.insertNode(ctx, tx, n); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("node: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE owner = ? AND node = ? AND item_id = ?`,
			it.Owner, it.Node, it.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO pubsub_items (owner, node, item_id, payload, publisher, published_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			it.Owner, it.Node, it.ID, nonNil(it.Payload), it.Publisher, s.t(orNow(it.Published, time.Now()))); err != nil {
			return s.mapError(err)
		}
		return s.trimItems(ctx, tx, n)
	})
	if err != nil {
		return storage.PubSubNode{}, s.wrap(err, "publish item %s on %s of %s", it.ID, it.Node, it.Owner)
	}
	return n, nil
}

const itemCols = `owner, node, item_id, payload, publisher, published_at`

func scanItem(row scanner) (storage.PubSubItem, error) {
	var it storage.PubSubItem
	err := row.Scan(&it.Owner, &it.Node, &it.ID, &it.Payload, &it.Publisher, scanTime(&it.Published))
	return it, err
}

// PubSubItems implements storage.PubSub.
func (s *Store) PubSubItems(ctx context.Context, owner, name string, ids []string, max int) ([]storage.PubSubItem, error) {
	var out []storage.PubSubItem
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM pubsub_nodes WHERE owner = ? AND name = ?`, owner, name).Scan(&one); err != nil {
			return notFound(err)
		}
		q := `SELECT ` + itemCols + ` FROM pubsub_items WHERE owner = ? AND node = ?`
		args := []any{owner, name}
		if len(ids) > 0 {
			q += ` AND item_id IN (` + placeholders(len(ids)) + `)`
			args = append(args, anys(ids)...)
		}
		q += ` ORDER BY id DESC`
		if max > 0 {
			q += fmt.Sprintf(` LIMIT %d`, max)
		}
		var err error
		out, err = collect(ctx, tx, scanItem, q, args...)
		return err
	})
	return out, s.wrap(err, "items of pubsub node %s of %s", name, owner)
}

// lastItemsChunk is how many owners one LastPubSubItems query names, so
// that a large roster stays under the databases' placeholder limits.
const lastItemsChunk = 500

// LastPubSubItems implements storage.PubSub.
func (s *Store) LastPubSubItems(ctx context.Context, owners, names []string) ([]storage.PubSubLast, error) {
	if len(names) == 0 {
		return nil, nil
	}
	owners = slices.Sorted(slices.Values(owners))
	owners = slices.Compact(owners)
	var out []storage.PubSubLast
	for len(owners) > 0 {
		n := min(len(owners), lastItemsChunk)
		part, err := s.lastItems(ctx, owners[:n], names)
		if err != nil {
			return nil, s.wrap(err, "last pubsub items")
		}
		out = append(out, part...)
		owners = owners[n:]
	}
	return out, nil
}

func (s *Store) lastItems(ctx context.Context, owners, names []string) ([]storage.PubSubLast, error) {
	args := append(anys(owners), anys(names)...)
	return collect(ctx, s.reads(), func(row scanner) (storage.PubSubLast, error) {
		var (
			l       storage.PubSubLast
			persist bool
		)
		err := row.Scan(&l.Node.Owner, &l.Node.Name, &l.Node.AccessModel, &l.Node.MaxItems, &persist,
			&l.Node.SendLast, scanTime(&l.Node.Created),
			&l.Item.ID, &l.Item.Payload, &l.Item.Publisher, scanTime(&l.Item.Published))
		l.Node.PersistItems = persist
		l.Item.Owner, l.Item.Node = l.Node.Owner, l.Node.Name
		return l, err
	}, `
		SELECT n.owner, n.name, n.access_model, n.max_items, n.persist_items, n.send_last, n.created_at,
		       i.item_id, i.payload, i.publisher, i.published_at
		FROM pubsub_nodes n JOIN pubsub_items i ON i.owner = n.owner AND i.node = n.name
		WHERE n.owner IN (`+placeholders(len(owners))+`) AND n.name IN (`+placeholders(len(names))+`)
		  AND i.id = (SELECT MAX(j.id) FROM pubsub_items j WHERE j.owner = n.owner AND j.node = n.name)
		ORDER BY n.owner, n.name`, args...)
}

// RetractPubSubItem implements storage.PubSub.
func (s *Store) RetractPubSubItem(ctx context.Context, owner, name, id string) error {
	err := affected(s.writes().ExecContext(ctx,
		`DELETE FROM pubsub_items WHERE owner = ? AND node = ? AND item_id = ?`, owner, name, id))
	return s.wrap(err, "retract item %s from %s of %s", id, name, owner)
}

// PurgePubSubNode implements storage.PubSub.
func (s *Store) PurgePubSubNode(ctx context.Context, owner, name string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.nodeIn(ctx, tx, owner, name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM pubsub_items WHERE owner = ? AND node = ?`, owner, name)
		return err
	})
	return s.wrap(err, "purge pubsub node %s of %s", name, owner)
}

// PrivateXML implements storage.AccountXML.
func (s *Store) PrivateXML(ctx context.Context, owner, key string) ([]byte, error) {
	var b []byte
	err := s.reads().QueryRowContext(ctx, `SELECT payload FROM private_xml WHERE owner = ? AND xml_key = ?`, owner, key).Scan(&b)
	if err != nil {
		return nil, s.wrap(notFound(err), "private XML %s of %s", key, owner)
	}
	return b, nil
}

// PutPrivateXML implements storage.AccountXML.
func (s *Store) PutPrivateXML(ctx context.Context, owner, key string, payload []byte) error {
	if err := check.PrivateXMLKey(owner, key); err != nil {
		return s.wrap(err, "put private XML")
	}
	_, err := s.writes().ExecContext(ctx, `INSERT INTO private_xml (owner, xml_key, payload) VALUES (?, ?, ?) `+
		s.upsert("owner, xml_key", "payload"), owner, key, nonNil(payload))
	return s.wrap(s.mapError(err), "put private XML %s of %s", key, owner)
}

// VCard implements storage.AccountXML.
func (s *Store) VCard(ctx context.Context, owner string) ([]byte, error) {
	var b []byte
	err := s.reads().QueryRowContext(ctx, `SELECT vcard FROM vcards WHERE owner = ?`, owner).Scan(&b)
	if err != nil {
		return nil, s.wrap(notFound(err), "vCard of %s", owner)
	}
	return b, nil
}

// PutVCard implements storage.AccountXML.
func (s *Store) PutVCard(ctx context.Context, owner string, vcard []byte) error {
	if err := check.Username(owner); err != nil {
		return s.wrap(err, "put vCard")
	}
	_, err := s.writes().ExecContext(ctx, `INSERT INTO vcards (owner, vcard) VALUES (?, ?) `+
		s.upsert("owner", "vcard"), owner, nonNil(vcard))
	return s.wrap(s.mapError(err), "put vCard of %s", owner)
}
