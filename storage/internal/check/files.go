package check

import (
	"fmt"

	"github.com/parleychat/parley/storage"
)

// FileID checks a file id.
func FileID(id string) error {
	return key("file id", id, storage.MaxFileIDLength)
}

// FileSlot checks a file before its slot is stored.
func FileSlot(f storage.File) error {
	if err := FileID(f.ID); err != nil {
		return err
	}
	if err := JID(f.Owner); err != nil {
		return fmt.Errorf("file owner: %w", err)
	}
	if err := key("file name", f.Name, storage.MaxFileNameLength); err != nil {
		return err
	}
	if err := short("content type", f.ContentType, storage.MaxContentTypeLength); err != nil {
		return err
	}
	switch {
	case f.Size < 0:
		return fmt.Errorf("file size %d is negative", f.Size)
	case f.Expires.IsZero():
		return fmt.Errorf("file %s: no expiry", f.ID)
	}
	return nil
}

// FileChunk checks a chunk before it is stored.
func FileChunk(id string, seq int, data []byte) error {
	if err := FileID(id); err != nil {
		return err
	}
	switch {
	case seq < 0:
		return fmt.Errorf("chunk number %d is negative", seq)
	case len(data) == 0:
		return fmt.Errorf("chunk %d is empty", seq)
	case len(data) > storage.MaxFileChunkSize:
		return fmt.Errorf("chunk %d of %d bytes is larger than %d", seq, len(data), storage.MaxFileChunkSize)
	}
	return nil
}

// SHA256 checks a SHA-256 digest.
func SHA256(sum []byte) error {
	if len(sum) != 32 {
		return fmt.Errorf("SHA-256 digest of %d bytes, want 32", len(sum))
	}
	return nil
}
