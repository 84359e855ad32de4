package storagetest

import (
	"bytes"
	sha2 "crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/storage"
)

// slot returns a file slot of size bytes for owner, expiring in an hour.
func slot(id, owner string, size int64) storage.File {
	return storage.File{
		ID: id, Owner: owner, Name: "Résumé 🦊.pdf", Size: size, ContentType: "application/pdf",
		Expires: time.Now().Add(time.Hour),
	}
}

// upload stores content as file f in chunks of chunk bytes, start to end.
func (e *env) upload(f storage.File, quota int64, content []byte, chunk int) {
	e.t.Helper()
	if err := e.store.CreateFileSlot(e.ctx, f, quota); err != nil {
		e.t.Fatalf("CreateFileSlot(%s): %v", f.ID, err)
	}
	if _, err := e.store.ClaimFileSlot(e.ctx, f.ID, time.Now()); err != nil {
		e.t.Fatalf("ClaimFileSlot(%s): %v", f.ID, err)
	}
	for seq := 0; seq*chunk < len(content); seq++ {
		data := content[seq*chunk : min((seq+1)*chunk, len(content))]
		if err := e.store.AppendFileChunk(e.ctx, f.ID, seq, data); err != nil {
			e.t.Fatalf("AppendFileChunk(%s, %d): %v", f.ID, seq, err)
		}
	}
	sum := sha2.Sum256(content)
	if err := e.store.CompleteFile(e.ctx, f.ID, sum[:], event("file.upload", "")); err != nil {
		e.t.Fatalf("CompleteFile(%s): %v", f.ID, err)
	}
}

// download reads a complete file back chunk by chunk.
func (e *env) download(id string) []byte {
	e.t.Helper()
	var out []byte
	for seq := 0; ; seq++ {
		data, err := e.store.FileChunk(e.ctx, id, seq)
		if errors.Is(err, storage.ErrNotFound) {
			return out
		}
		if err != nil {
			e.t.Fatalf("FileChunk(%s, %d): %v", id, seq, err)
		}
		out = append(out, data...)
	}
}

// content returns n bytes that differ from chunk to chunk.
func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/1000)
	}
	return b
}

var fileTests = []test{
	{"UploadAndDownload", func(t *testing.T, e *env) {
		data := content(1<<20 + 12345)
		before := time.Now()
		e.upload(slot("f1", "alice@example.org", int64(len(data))), 0, data, 256<<10)
		after := time.Now()
		e.reopen()
		f, err := e.store.File(e.ctx, "f1")
		if err != nil {
			t.Fatalf("File: %v", err)
		}
		sum := sha2.Sum256(data)
		if f.State != storage.FileComplete || !bytes.Equal(f.SHA256, sum[:]) || f.Size != int64(len(data)) ||
			f.Owner != "alice@example.org" || f.Name != "Résumé 🦊.pdf" || f.ContentType != "application/pdf" {
			t.Errorf("File = %+v", f)
		}
		wantTime(t, "Created", f.Created, before, after)
		wantTime(t, "Uploaded", f.Uploaded, before, after)
		if got := e.download("f1"); !bytes.Equal(got, data) {
			t.Errorf("downloaded %d bytes, not the %d uploaded", len(got), len(data))
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"file.upload"})

		if err := e.store.RecordFileDownload(e.ctx, "f1", event("file.download", "")); err != nil {
			t.Fatalf("RecordFileDownload: %v", err)
		}
		if f, _ := e.store.File(e.ctx, "f1"); f.Downloads != 1 {
			t.Errorf("Downloads = %d, want 1", f.Downloads)
		}
		wantStrings(t, "outbox", e.outboxTypes(), []string{"file.upload", "file.download"})
		err = e.store.RecordFileDownload(e.ctx, "nope", event("file.download", ""))
		wantErrorIs(t, "RecordFileDownload(unknown)", err, storage.ErrNotFound)
		wantStrings(t, "outbox after a failed download", e.outboxTypes(), []string{"file.upload", "file.download"})
	}},

	{"EmptyFile", func(t *testing.T, e *env) {
		e.upload(slot("empty", "alice@example.org", 0), 0, nil, 1024)
		if got := e.download("empty"); len(got) != 0 {
			t.Errorf("downloaded %d bytes of an empty file", len(got))
		}
	}},

	{"SlotsAreSingleUse", func(t *testing.T, e *env) {
		f := slot("s1", "alice@example.org", 10)
		if err := e.store.CreateFileSlot(e.ctx, f, 0); err != nil {
			t.Fatalf("CreateFileSlot: %v", err)
		}
		wantErrorIs(t, "CreateFileSlot(same id)", e.store.CreateFileSlot(e.ctx, f, 0), storage.ErrExists)
		// Content before the claim, or a download before completion, is refused.
		wantErrorIs(t, "AppendFileChunk(unclaimed)", e.store.AppendFileChunk(e.ctx, "s1", 0, []byte("x")), storage.ErrNotFound)
		got, err := e.store.ClaimFileSlot(e.ctx, "s1", time.Now())
		if err != nil || got.State != storage.FileUploading || got.Size != 10 {
			t.Fatalf("ClaimFileSlot = %+v, %v", got, err)
		}
		_, err = e.store.ClaimFileSlot(e.ctx, "s1", time.Now())
		wantErrorIs(t, "ClaimFileSlot(again)", err, storage.ErrNotFound)
		_, err = e.store.ClaimFileSlot(e.ctx, "unknown", time.Now())
		wantErrorIs(t, "ClaimFileSlot(unknown)", err, storage.ErrNotFound)
		if err := e.store.AppendFileChunk(e.ctx, "s1", 0, []byte("12345")); err != nil {
			t.Fatalf("AppendFileChunk: %v", err)
		}
		wantErrorIs(t, "AppendFileChunk(same seq)", e.store.AppendFileChunk(e.ctx, "s1", 0, []byte("12345")), storage.ErrExists)
		_, err = e.store.FileChunk(e.ctx, "s1", 0)
		wantErrorIs(t, "FileChunk(incomplete)", err, storage.ErrNotFound)
		// Too few bytes: not complete, no event.
		sum := sha2.Sum256([]byte("1234567890"))
		wantInvalid(t, "CompleteFile(short)", e.store.CompleteFile(e.ctx, "s1", sum[:], event("file.upload", "")))
		if n := len(e.outbox()); n != 0 {
			t.Errorf("%d events after a failed CompleteFile, want none", n)
		}
		if err := e.store.AppendFileChunk(e.ctx, "s1", 1, []byte("67890")); err != nil {
			t.Fatalf("AppendFileChunk: %v", err)
		}
		wantInvalid(t, "CompleteFile(bad digest)", e.store.CompleteFile(e.ctx, "s1", []byte("short"), event("file.upload", "")))
		if err := e.store.CompleteFile(e.ctx, "s1", sum[:], event("file.upload", "")); err != nil {
			t.Fatalf("CompleteFile: %v", err)
		}
		wantErrorIs(t, "CompleteFile(again)", e.store.CompleteFile(e.ctx, "s1", sum[:], event("file.upload", "")), storage.ErrNotFound)
		wantErrorIs(t, "AppendFileChunk(complete)", e.store.AppendFileChunk(e.ctx, "s1", 2, []byte("x")), storage.ErrNotFound)
		if got := e.download("s1"); string(got) != "1234567890" {
			t.Errorf("downloaded %q", got)
		}
	}},

	{"ExpiredSlots", func(t *testing.T, e *env) {
		f := slot("old", "alice@example.org", 10)
		f.Created = time.Now().Add(-time.Hour)
		f.Expires = time.Now().Add(-time.Minute)
		if err := e.store.CreateFileSlot(e.ctx, f, 0); err != nil {
			t.Fatalf("CreateFileSlot: %v", err)
		}
		_, err := e.store.ClaimFileSlot(e.ctx, "old", time.Now())
		wantErrorIs(t, "ClaimFileSlot(expired)", err, storage.ErrNotFound)
		e.upload(slot("done", "alice@example.org", 3), 0, []byte("abc"), 2)
		n, err := e.store.DeleteStaleFiles(e.ctx, time.Now())
		if err != nil || n != 1 {
			t.Fatalf("DeleteStaleFiles = %d, %v; want 1", n, err)
		}
		_, err = e.store.File(e.ctx, "old")
		wantErrorIs(t, "File(stale)", err, storage.ErrNotFound)
		if _, err := e.store.File(e.ctx, "done"); err != nil {
			t.Errorf("File(complete) after DeleteStaleFiles: %v", err)
		}
		if err := e.store.DeleteFile(e.ctx, "done"); err != nil {
			t.Fatalf("DeleteFile: %v", err)
		}
		wantErrorIs(t, "DeleteFile(again)", e.store.DeleteFile(e.ctx, "done"), storage.ErrNotFound)
		_, err = e.store.FileChunk(e.ctx, "done", 0)
		wantErrorIs(t, "FileChunk(deleted)", err, storage.ErrNotFound)
	}},

	{"Quota", func(t *testing.T, e *env) {
		const quota = 100
		e.upload(slot("a", "alice@example.org", 60), quota, content(60), 50)
		// A reserved slot counts; an expired one does not.
		if err := e.store.CreateFileSlot(e.ctx, slot("b", "alice@example.org", 30), quota); err != nil {
			t.Fatalf("CreateFileSlot(b): %v", err)
		}
		err := e.store.CreateFileSlot(e.ctx, slot("c", "alice@example.org", 11), quota)
		wantErrorIs(t, "CreateFileSlot(over quota)", err, storage.ErrQuotaExceeded)
		if _, err := e.store.File(e.ctx, "c"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("File(refused slot): %v, want ErrNotFound", err)
		}
		old := slot("expired", "bob@example.org", 90)
		old.Created, old.Expires = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
		if err := e.store.CreateFileSlot(e.ctx, old, quota); err != nil {
			t.Fatalf("CreateFileSlot(bob, expired): %v", err)
		}
		if err := e.store.CreateFileSlot(e.ctx, slot("d", "bob@example.org", 100), quota); err != nil {
			t.Errorf("CreateFileSlot(bob): %v (an expired slot counted)", err)
		}
		if err := e.store.CreateFileSlot(e.ctx, slot("e", "alice@example.org", 10), quota); err != nil {
			t.Errorf("CreateFileSlot(exactly at quota): %v", err)
		}
		if err := e.store.CreateFileSlot(e.ctx, slot("f", "alice@example.org", 1000), 0); err != nil {
			t.Errorf("CreateFileSlot(no quota): %v", err)
		}
	}},

	{"ConcurrentQuota", func(t *testing.T, e *env) {
		// Ten slots of 10 bytes at once against a quota of 50: exactly
		// five fit, whatever the interleaving.
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			ok     int
			others []error
		)
		for i := range 10 {
			wg.Go(func() {
				err := e.store.CreateFileSlot(e.ctx, slot(fmt.Sprintf("q%d", i), "alice@example.org", 10), 50)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, storage.ErrQuotaExceeded):
					others = append(others, err)
				}
			})
		}
		wg.Wait()
		if ok != 5 || len(others) > 0 {
			t.Errorf("%d slots granted (want 5), unexpected errors %v", ok, others)
		}
	}},

	{"InvalidInput", func(t *testing.T, e *env) {
		for name, f := range map[string]storage.File{
			"empty id":      slot("", "alice@example.org", 1),
			"long id":       slot(longString('x', storage.MaxFileIDLength+1), "alice@example.org", 1),
			"no owner":      slot("x", "", 1),
			"no name":       {ID: "x", Owner: "alice@example.org", Size: 1, Expires: time.Now().Add(time.Hour)},
			"negative size": slot("x", "alice@example.org", -1),
			"no expiry":     {ID: "x", Owner: "alice@example.org", Name: "a", Size: 1},
			"long name":     {ID: "x", Owner: "alice@example.org", Name: longString('🦊', storage.MaxFileNameLength+1), Expires: time.Now().Add(time.Hour)},
		} {
			wantInvalid(t, "CreateFileSlot("+name+")", e.store.CreateFileSlot(e.ctx, f, 0))
		}
		wantInvalid(t, "AppendFileChunk(empty)", e.store.AppendFileChunk(e.ctx, "x", 0, nil))
		wantInvalid(t, "AppendFileChunk(negative)", e.store.AppendFileChunk(e.ctx, "x", -1, []byte("a")))
		wantInvalid(t, "AppendFileChunk(huge)", e.store.AppendFileChunk(e.ctx, "x", 0, make([]byte, storage.MaxFileChunkSize+1)))
	}},
}
