package muc

import (
	"context"
	"sync"
	"time"

	"github.com/parleychat/parley/storage"
)

// Group commit (DESIGN §8): posts of different rooms that arrive while a
// transaction is being written are committed together in the next one, so
// the database pays one fsync for many posts. Each room still has at most
// one post in flight (its host lock is held until the post is committed),
// so room order stays history order; only rooms share transactions.
//
// There is no committer goroutine: the first poster to find the committer
// idle becomes the leader and writes batches until its own post is
// committed, then hands the lead to the oldest waiting poster, if any.

// maxGroupCommit bounds one transaction's batch.
const maxGroupCommit = 128

// groupCommitTimeout bounds one batch's transaction. A batch does not use
// the leader's context: other rooms' posts ride in it.
const groupCommitTimeout = 30 * time.Second

type committer struct {
	mu      sync.Mutex
	pending []*commitRequest
	leading bool
}

type commitRequest struct {
	write  storage.PostWrite
	result storage.PostWrite
	err    error
	// wake receives true when the request is done, false when its
	// goroutine must take the lead.
	wake chan bool
}

// commit writes one post with whatever other posts are waiting, and
// returns it with its assigned Seq.
func (c *committer) commit(store storage.RoomStore, w storage.PostWrite) (storage.PostWrite, error) {
	req := &commitRequest{write: w, wake: make(chan bool, 1)}
	c.mu.Lock()
	c.pending = append(c.pending, req)
	lead := !c.leading
	c.leading = true
	c.mu.Unlock()
	// A follower waits for the outcome whatever its context says: the
	// leader may hand it the lead, and a batch is bounded by
	// groupCommitTimeout anyway.
	for !lead {
		if done := <-req.wake; done {
			return req.result, req.err
		}
		lead = true
	}
	for {
		c.mu.Lock()
		n := min(len(c.pending), maxGroupCommit)
		batch := c.pending[:n:n]
		c.pending = c.pending[n:]
		c.mu.Unlock()
		c.write(store, batch)
		select {
		case <-req.wake: // our own request was in that batch
			c.handOver()
			return req.result, req.err
		default:
		}
	}
}

// write commits a batch; if the batch fails as a whole, each post is tried
// alone so that one bad post (say, a retraction of a message that just
// vanished) does not fail the others.
func (c *committer) write(store storage.RoomStore, batch []*commitRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), groupCommitTimeout)
	defer cancel()
	writes := make([]storage.PostWrite, len(batch))
	for i, r := range batch {
		writes[i] = r.write
	}
	out, err := store.AppendHistory(ctx, writes)
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			one, err := store.AppendHistory(ctx, []storage.PostWrite{r.write})
			if err == nil {
				r.result = one[0]
			}
			r.err = err
			r.wake <- true
		}
		return
	}
	for i, r := range batch {
		if err == nil {
			r.result = out[i]
		}
		r.err = err
		r.wake <- true
	}
}

// handOver gives the lead to the oldest waiting request, or marks the
// committer idle.
func (c *committer) handOver() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		c.leading = false
		return
	}
	c.pending[0].wake <- false
}
