package muc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/storage"
)

// Files from XEP-0363 HTTP File Upload, as the engine sees them: who may
// upload (an occupant of a room whose category allows file upload, DESIGN
// §1), the size limit and per-user quota, single-use slots, storage in the
// content database in chunks (DESIGN §5) and the compliance capture of
// every upload and download (DESIGN §6), each written in the transaction
// of the change it records.

// Defaults for FilesConfig fields left at zero.
const (
	DefaultMaxFileSize  = 20 << 20 // the seed product's limit
	DefaultUploadQuota  = 1 << 30
	DefaultSlotLifetime = 5 * time.Minute
	DefaultChunkSize    = 256 << 10
)

// FilesConfig configures Files.
type FilesConfig struct {
	// Store keeps the files.
	Store storage.FileStore
	// MaxFileSize is the largest file a slot is given for, in bytes.
	MaxFileSize int64
	// Quota is how many bytes one user may keep (uploads plus open
	// slots); negative means no quota.
	Quota int64
	// SlotLifetime is how long a slot may wait for its upload.
	SlotLifetime time.Duration
	// ChunkSize is the size of the rows a file is stored in.
	ChunkSize int
	// SlotsPerHour and BytesPerHour bound the slots one user is given and
	// the bytes they are for, per hour (issue 18, item 3): a burst of that
	// many, then refilled over the hour; beyond it resource-constraint.
	// Zero means DefaultSlotsPerHour, DefaultBytesPerHour.
	SlotsPerHour int
	BytesPerHour int64
}

// Defaults of FilesConfig's hourly limits.
const (
	DefaultSlotsPerHour       = 100
	DefaultBytesPerHour int64 = 2 << 30
)

// Files hands out upload slots and stores and serves the files. It is safe
// for concurrent use.
type Files struct {
	e   *Engine
	cfg FilesConfig
	// maxFileSize and quota are cfg's MaxFileSize and Quota, which
	// SetLimits may change while the service runs.
	maxFileSize, quota atomic.Int64

	mu        sync.Mutex
	lastSweep time.Time

	// slotRate and byteRate are the hourly limits per user.
	slotRate, byteRate *userBuckets
}

// NewFiles returns the file service of engine e.
func NewFiles(e *Engine, cfg FilesConfig) (*Files, error) {
	if cfg.Store == nil {
		return nil, errors.New("muc: files config: Store is required")
	}
	if cfg.SlotLifetime <= 0 {
		cfg.SlotLifetime = DefaultSlotLifetime
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ChunkSize > storage.MaxFileChunkSize {
		return nil, fmt.Errorf("muc: files config: chunk size %d is above %d", cfg.ChunkSize, storage.MaxFileChunkSize)
	}
	if cfg.SlotsPerHour <= 0 {
		cfg.SlotsPerHour = DefaultSlotsPerHour
	}
	if cfg.BytesPerHour <= 0 {
		cfg.BytesPerHour = DefaultBytesPerHour
	}
	f := &Files{e: e, cfg: cfg,
		slotRate: newHourlyBuckets("upload slots", int64(cfg.SlotsPerHour), cfg.SlotsPerHour),
		byteRate: newHourlyBuckets("upload bytes", cfg.BytesPerHour, int(min(cfg.BytesPerHour, math.MaxInt)))}
	f.SetLimits(cfg.MaxFileSize, cfg.Quota)
	return f, nil
}

// SetLimits replaces the size limit and the per-user quota (zero: their
// defaults; a negative quota: none). Slots granted before keep theirs.
func (f *Files) SetLimits(maxFileSize, quota int64) {
	if maxFileSize <= 0 {
		maxFileSize = DefaultMaxFileSize
	}
	if quota == 0 {
		quota = DefaultUploadQuota
	}
	f.maxFileSize.Store(maxFileSize)
	f.quota.Store(quota)
}

// MaxFileSize is the size limit advertised in disco (XEP-0363 §2).
func (f *Files) MaxFileSize() int64 { return f.maxFileSize.Load() }

// MayUpload returns nil if user (a bare JID) occupies at least one room
// whose category allows file upload, and a CodeForbidden refusal if not.
func (e *Engine) MayUpload(ctx context.Context, user string) error {
	e.mu.Lock()
	hosts := make([]*host, 0, len(e.rooms))
	for _, h := range e.rooms {
		hosts = append(hosts, h)
	}
	e.mu.Unlock()
	var rooms []string
	for _, h := range hosts {
		h.mu.Lock()
		in := false
		for _, o := range h.occupants {
			if o.User == user {
				in = !h.dead
				break
			}
		}
		h.mu.Unlock()
		if in {
			rooms = append(rooms, h.name)
		}
	}
	slices.Sort(rooms)
	for _, name := range rooms {
		_, c, err := e.roomAndCategory(ctx, name)
		if CodeOf(err) == CodeNotFound {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if c.FileUpload {
			return nil
		}
	}
	if len(rooms) == 0 {
		return refuse(CodeForbidden, "only occupants of a room may upload files: join one first")
	}
	return refuse(CodeForbidden, "none of your rooms' categories allows file upload")
}

// FileTooLargeError refuses a slot for a file above the limit (XEP-0363
// §5, <file-too-large/>).
type FileTooLargeError struct {
	Size, Max int64
}

func (e *FileTooLargeError) Error() string {
	return fmt.Sprintf("muc: a file of %d bytes is larger than the limit of %d", e.Size, e.Max)
}

// SlotRequest asks for an upload slot (XEP-0363 §4).
type SlotRequest struct {
	User        string // bare JID
	Name        string
	Size        int64
	ContentType string
}

// Slot is a granted slot: the file reserved for the upload and the secret
// the PUT must present (XEP-0363 §4.2 header Authorization).
type Slot struct {
	File  storage.File
	Token string
}

// RequestSlot grants a slot, or refuses it: a CodeForbidden refusal for a
// user who may not upload, a *FileTooLargeError, a CodeBadRequest refusal
// for a bad name or size, and an error wrapping storage.ErrQuotaExceeded
// when the user's quota cannot hold the file.
func (f *Files) RequestSlot(ctx context.Context, req SlotRequest) (Slot, error) {
	if err := f.e.MayUpload(ctx, req.User); err != nil {
		return Slot{}, err
	}
	switch maxSize := f.MaxFileSize(); {
	case req.Size > maxSize:
		return Slot{}, &FileTooLargeError{Size: req.Size, Max: maxSize}
	case req.Size < 0:
		return Slot{}, refuse(CodeBadRequest, "a file size cannot be negative")
	case req.Name == "" || len([]rune(req.Name)) > storage.MaxFileNameLength:
		return Slot{}, refuse(CodeBadRequest, "a file name must be 1 to %d characters", storage.MaxFileNameLength)
	case req.Name == "." || req.Name == "..":
		// The name is the last segment of the file's URL, and a URL
		// parser removes a "." or ".." segment (RFC 3986 §5.2.4, even
		// spelled %2E): the URL would not name the file (issue 18).
		return Slot{}, refuse(CodeBadRequest, "a file cannot be named %q: give it a name", req.Name)
	case len(req.ContentType) > storage.MaxContentTypeLength:
		return Slot{}, refuse(CodeBadRequest, "the content type is longer than %d characters", storage.MaxContentTypeLength)
	}
	if err := f.e.rateLimited(f.slotRate, req.User); err != nil {
		return Slot{}, err
	}
	if !isAdmin(req.User) && !f.byteRate.allowN(req.User, int(req.Size), f.e.cfg.Now()) {
		f.e.metrics.rateLimited.WithLabelValues(f.byteRate.name).Inc()
		return Slot{}, refuse(CodeResourceConstraint, "too many bytes uploaded: at most %d an hour, try again later", f.cfg.BytesPerHour)
	}
	f.sweep(ctx)
	now := f.e.cfg.Now().UTC()
	file := storage.File{
		ID: newID(), Owner: req.User, Name: req.Name, Size: req.Size, ContentType: req.ContentType,
		Created: now, Expires: now.Add(f.cfg.SlotLifetime),
	}
	if err := f.cfg.Store.CreateFileSlot(ctx, file, max(f.quota.Load(), 0)); err != nil {
		return Slot{}, fmt.Errorf("muc: upload slot for %s: %w", req.User, err)
	}
	return Slot{File: file, Token: f.token(file.ID)}, nil
}

// sweep removes abandoned slots now and then (at most once a minute),
// an hour after they expired, so that an upload that is still running
// is not cut off.
func (f *Files) sweep(ctx context.Context) {
	now := f.e.cfg.Now()
	f.mu.Lock()
	due := now.Sub(f.lastSweep) > time.Minute
	if due {
		f.lastSweep = now
	}
	f.mu.Unlock()
	if !due {
		return
	}
	if n, err := f.cfg.Store.DeleteStaleFiles(ctx, now.Add(-time.Hour)); err != nil {
		f.e.log.Warn("deleting abandoned upload slots", "err", err)
	} else if n > 0 {
		f.e.log.Info("deleted abandoned upload slots", "count", n)
	}
}

// token is the secret of a slot's PUT: an HMAC of its id under the
// engine's secret, so that every node of a pool (which shares the secret)
// can check it without storing it, and knowing the download URL does not
// allow the upload.
func (f *Files) token(id string) string {
	m := hmac.New(sha256.New, f.e.cfg.Secret)
	m.Write([]byte("xep-0363 put\x00"))
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Errors of Upload, beyond storage errors.
var (
	// ErrNoSlot: the slot does not exist, expired, was used, or the token
	// is wrong (HTTP 403).
	ErrNoSlot = errors.New("muc: no such upload slot")
	// ErrSizeMismatch: the body is not the size the slot was given for
	// (HTTP 413 or 400).
	ErrSizeMismatch = errors.New("muc: upload size differs from the slot's")
)

// CheckSlot returns the open slot id if token is its secret, without
// claiming it, so that the HTTP front door can compare sizes and types
// before it reads a body. It returns ErrNoSlot otherwise.
func (f *Files) CheckSlot(ctx context.Context, id, token string) (storage.File, error) {
	if !hmac.Equal([]byte(token), []byte(f.token(id))) {
		return storage.File{}, ErrNoSlot
	}
	file, err := f.cfg.Store.File(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && (file.State != storage.FileSlot || !file.Expires.After(f.e.cfg.Now()))) {
		return storage.File{}, ErrNoSlot
	}
	if err != nil {
		return storage.File{}, fmt.Errorf("muc: upload slot %s: %w", id, err)
	}
	return file, nil
}

// UploadInfo describes where an upload came from, for the compliance
// record.
type UploadInfo struct {
	Remote    string // the HTTP client's address
	UserAgent string
}

// Upload claims slot id (with its token) and stores body, which must be
// exactly the slot's size, in chunks, streaming: at most one chunk is in
// memory. On success the file is complete and its "file.upload" event is
// in the outbox (same transaction). On any failure nothing stays behind
// and the slot is used up.
func (f *Files) Upload(ctx context.Context, id, token string, body io.Reader, info UploadInfo) (storage.File, error) {
	if _, err := f.CheckSlot(ctx, id, token); err != nil {
		return storage.File{}, err
	}
	file, err := f.cfg.Store.ClaimFileSlot(ctx, id, f.e.cfg.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return storage.File{}, ErrNoSlot
	}
	if err != nil {
		return storage.File{}, fmt.Errorf("muc: upload %s: %w", id, err)
	}
	file, err = f.store(ctx, file, body, info)
	if err != nil {
		// The context may be what failed; cleaning up must not.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := f.cfg.Store.DeleteFile(dctx, id); derr != nil {
			f.e.log.Warn("removing a failed upload", "file", id, "err", derr)
		}
		return storage.File{}, err
	}
	return file, nil
}

func (f *Files) store(ctx context.Context, file storage.File, body io.Reader, info UploadInfo) (storage.File, error) {
	h := sha256.New()
	buf := make([]byte, f.cfg.ChunkSize)
	// One byte more than announced tells a longer body.
	r := io.LimitReader(body, file.Size+1)
	var n int64
	for seq := 0; ; seq++ {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			n += int64(k)
			if n > file.Size {
				return file, fmt.Errorf("%w: more than %d bytes", ErrSizeMismatch, file.Size)
			}
			h.Write(buf[:k])
			if err := f.cfg.Store.AppendFileChunk(ctx, file.ID, seq, buf[:k]); err != nil {
				return file, fmt.Errorf("muc: upload %s: %w", file.ID, err)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return file, fmt.Errorf("muc: upload %s: reading the body: %w", file.ID, err)
		}
	}
	if n != file.Size {
		return file, fmt.Errorf("%w: %d of %d bytes", ErrSizeMismatch, n, file.Size)
	}
	file.SHA256 = h.Sum(nil)
	ev := f.e.event("file.upload", "", file.Owner, fileDetail(file, info))
	if err := f.cfg.Store.CompleteFile(ctx, file.ID, file.SHA256, ev); err != nil {
		return file, fmt.Errorf("muc: upload %s: %w", file.ID, err)
	}
	file.State = storage.FileComplete
	file.Uploaded = f.e.cfg.Now().UTC()
	f.e.metrics.uploads.Inc()
	f.e.metrics.uploadBytes.Add(float64(file.Size))
	return file, nil
}

// fileEvent is the payload of the file.upload and file.download events.
type fileEvent struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
	SHA256      string `json:"sha256"`
	Owner       string `json:"owner"`
	Remote      string `json:"remote,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`
}

func fileDetail(file storage.File, info UploadInfo) fileEvent {
	return fileEvent{
		ID: file.ID, Name: file.Name, Size: file.Size, ContentType: file.ContentType,
		SHA256: fmt.Sprintf("%x", file.SHA256), Owner: file.Owner,
		Remote: info.Remote, UserAgent: info.UserAgent,
	}
}

// File returns a complete file's metadata, or a CodeNotFound refusal.
func (f *Files) File(ctx context.Context, id string) (storage.File, error) {
	file, err := f.cfg.Store.File(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && file.State != storage.FileComplete) {
		return storage.File{}, refuse(CodeNotFound, "no file %q", id)
	}
	if err != nil {
		return storage.File{}, fmt.Errorf("muc: file %s: %w", id, err)
	}
	return file, nil
}

// RecordDownload captures a download of a complete file: over plain HTTP
// the downloader is not known, so the event's actor is "http:" and the
// client's address, and its payload names the file's owner (DESIGN §6).
func (f *Files) RecordDownload(ctx context.Context, file storage.File, info UploadInfo) error {
	ev := f.e.event("file.download", "", "http:"+info.Remote, fileDetail(file, info))
	if err := f.cfg.Store.RecordFileDownload(ctx, file.ID, ev); err != nil {
		return fmt.Errorf("muc: recording a download of %s: %w", file.ID, err)
	}
	f.e.metrics.downloads.Inc()
	return nil
}

// Reader returns an io.ReadSeeker over a complete file's content that
// loads one chunk at a time, for http.ServeContent (ranges, HEAD).
func (f *Files) Reader(ctx context.Context, file storage.File) io.ReadSeeker {
	return &fileReader{ctx: ctx, store: f.cfg.Store, file: file}
}

type fileReader struct {
	ctx   context.Context
	store storage.FileStore
	file  storage.File

	off       int64
	chunkSize int64  // the size of chunk 0: every chunk but the last has it
	seq       int    // the chunk in buf
	buf       []byte // nil: none loaded
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.off >= r.file.Size {
		return 0, io.EOF
	}
	if r.chunkSize == 0 {
		if err := r.load(0); err != nil {
			return 0, err
		}
		r.chunkSize = int64(len(r.buf))
	}
	seq := int(r.off / r.chunkSize)
	if r.buf == nil || r.seq != seq {
		if err := r.load(seq); err != nil {
			return 0, err
		}
	}
	start := r.off - int64(seq)*r.chunkSize
	if start >= int64(len(r.buf)) {
		return 0, fmt.Errorf("muc: file %s: chunk %d is short", r.file.ID, seq)
	}
	n := copy(p, r.buf[start:])
	r.off += int64(n)
	return n, nil
}

func (r *fileReader) load(seq int) error {
	data, err := r.store.FileChunk(r.ctx, r.file.ID, seq)
	if err != nil {
		return fmt.Errorf("muc: file %s: %w", r.file.ID, err)
	}
	r.buf, r.seq = data, seq
	return nil
}

func (r *fileReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.file.Size
	default:
		return 0, errors.New("muc: seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("muc: seek: negative position")
	}
	r.off = offset
	return offset, nil
}
