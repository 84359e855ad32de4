package storage

import (
	"context"
	"time"
)

// This file is the persistence contract of XEP-0363 HTTP File Upload
// (shared/DESIGN.md §1 "file post", §5): files live in the content database,
// split into chunks, so that every node of a pool can serve every file.
//
// A file goes through three states. CreateFileSlot reserves it (a slot: an
// id, an owner, a declared name and size, an expiry) and counts it against
// the owner's quota; ClaimFileSlot marks the slot as being uploaded, once
// (slots are single-use); AppendFileChunk stores its content in order and
// CompleteFile checks the size, records the SHA-256 and writes the
// compliance event of the upload in the same transaction. A download is
// recorded by RecordFileDownload, also with its event.

// Length limits for files, in characters.
const (
	// MaxFileIDLength bounds File.ID (the random part of the URLs).
	MaxFileIDLength = 64
	// MaxFileNameLength bounds File.Name.
	MaxFileNameLength = 255
	// MaxContentTypeLength bounds File.ContentType.
	MaxContentTypeLength = 255
	// MaxFileChunkSize bounds one chunk given to AppendFileChunk, in
	// bytes (a MEDIUMBLOB holds 16 MiB; a MySQL packet must hold it too).
	MaxFileChunkSize = 4 << 20
)

// File states.
const (
	FileSlot      = "slot"      // reserved, not yet uploaded
	FileUploading = "uploading" // claimed by a PUT, content arriving
	FileComplete  = "complete"  // stored; downloadable
)

// File is one uploaded file or a slot reserved for one.
type File struct {
	// ID is the file's unguessable id, chosen by the caller (at least 128
	// random bits); it is the key.
	ID string
	// Owner is the bare JID of the user who requested the slot.
	Owner       string
	Name        string
	Size        int64
	ContentType string // may be empty
	// State is one of FileSlot, FileUploading, FileComplete; set by the
	// store.
	State string
	// SHA256 is the content's hash, set by CompleteFile; nil before.
	SHA256 []byte
	// Created is when the slot was reserved (now, if zero); Expires is
	// when an unclaimed slot lapses (required).
	Created time.Time
	Expires time.Time
	// Uploaded is when CompleteFile ran; zero before.
	Uploaded time.Time
	// Downloads counts RecordFileDownload calls.
	Downloads int64
}

// FileStore keeps uploaded files (XEP-0363).
type FileStore interface {
	// CreateFileSlot reserves f (State, SHA256, Uploaded and Downloads
	// are ignored). If quota > 0 and the sizes of the owner's files,
	// complete or reserved and not expired at f.Created, plus f.Size
	// exceed quota, nothing is written and the error wraps
	// ErrQuotaExceeded. An ID already used gives ErrExists.
	CreateFileSlot(ctx context.Context, f File, quota int64) error
	// ClaimFileSlot marks a slot as being uploaded and returns it, once:
	// a slot that does not exist, was claimed before, or expired before
	// now gives ErrNotFound.
	ClaimFileSlot(ctx context.Context, id string, now time.Time) (File, error)
	// AppendFileChunk stores the chunk numbered seq (0, 1, 2, … in
	// order) of a file being uploaded. ErrNotFound if the file is not in
	// state FileUploading; ErrExists if that chunk is stored already.
	AppendFileChunk(ctx context.Context, id string, seq int, data []byte) error
	// CompleteFile marks a file being uploaded as complete with its
	// SHA-256 and writes ev, in one transaction. ErrNotFound if the file
	// is not in state FileUploading; an invalid-input error if its chunks
	// do not add up to its Size.
	CompleteFile(ctx context.Context, id string, sha256 []byte, ev OutboxEvent) error
	// File returns a file's metadata in any state, or ErrNotFound.
	File(ctx context.Context, id string) (File, error)
	// FileChunk returns chunk seq of a complete file; ErrNotFound if the
	// file is not complete or has no such chunk.
	FileChunk(ctx context.Context, id string, seq int) ([]byte, error)
	// RecordFileDownload counts a download of a complete file and writes
	// ev, in one transaction; ErrNotFound if there is no complete file id.
	RecordFileDownload(ctx context.Context, id string, ev OutboxEvent) error
	// DeleteFile removes a file in any state with its chunks; ErrNotFound
	// if there is none.
	DeleteFile(ctx context.Context, id string) error
	// DeleteStaleFiles removes the files that are not complete and
	// expired before before (abandoned slots and uploads), with their
	// chunks, and returns how many it removed.
	DeleteStaleFiles(ctx context.Context, before time.Time) (int, error)
}
