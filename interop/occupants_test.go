package interop

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// occupants runs testdata/pool_occupant.py scripts, each an occupant of a
// room that posts, and tells them when to stop (see the script's comment).
// The pool failover and database failover tests share it.
type occupants struct {
	t       *testing.T
	outs    []string        // each script's --out
	exited  []chan struct{} // closed when a script has exited
	wg      sync.WaitGroup
	stopped bool
}

// start runs one script, labelled name in the test's log, reporting to out,
// with args after the script's name.
func (o *occupants) start(name, out string, args ...string) {
	t := o.t
	o.outs = append(o.outs, out)
	exited := make(chan struct{})
	o.exited = append(o.exited, exited)
	args = append([]string{"-B", filepath.Join("testdata", "pool_occupant.py"), "--out", out}, args...)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer close(exited)
		// The script bounds itself (its --scenario-timeout); this only
		// ends one that hangs.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, args...)
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
		out, err := cmd.CombinedOutput()
		t.Logf("%s:\n%s", name, out)
		if err != nil {
			t.Errorf("%s failed: %v\n%s", name, err, failureLines(out))
		}
	}()
}

// waitPosted waits until every script has had an answer to each of its
// posts (or has exited): then history holds every post there will be.
func (o *occupants) waitPosted() {
	for i, out := range o.outs {
		poolWait(o.t, 5*time.Minute, fmt.Sprintf("occupant %d has had an answer to every post", i+1), func() bool {
			select {
			case <-o.exited[i]:
				return true
			default:
				return fileExists(out + ".posted")
			}
		})
	}
}

// stop tells every script to stop once it has seen the post last live
// ("": at once) and waits for them. Only the first call does anything.
func (o *occupants) stop(last string) {
	if o.stopped {
		return
	}
	o.stopped = true
	for _, out := range o.outs {
		b, _ := json.Marshal(map[string]string{"last": last})
		if err := os.WriteFile(out+".stop.tmp", b, 0o644); err != nil {
			o.t.Error(err)
		} else if err := os.Rename(out+".stop.tmp", out+".stop"); err != nil {
			o.t.Error(err)
		}
	}
	o.wg.Wait()
}

// report reads what script i reported.
func (o *occupants) report(i int) (poolOccupant, bool) {
	var r poolOccupant
	b, err := os.ReadFile(o.outs[i])
	if err != nil {
		o.t.Errorf("occupant %d left no report: %v", i+1, err)
		return r, false
	}
	if err := json.Unmarshal(b, &r); err != nil {
		o.t.Fatal(err)
	}
	return r, true
}

// historyIndex maps each post's body to its place in history, and fails
// the test for a body that is there twice.
func historyIndex(t *testing.T, history []poolPost) map[string]int {
	index := map[string]int{}
	for i, p := range history {
		if j, dup := index[p.Body]; dup {
			t.Errorf("%q is in history twice: %v and %v", p.Body, history[j], p)
		}
		index[p.Body] = i
	}
	return index
}

// checkCompliance compares the compliance database (cdb) with the room's
// history (db) until the worker has copied every post, for at most wait,
// and fails the test for a post captured that is not in history, captured
// twice, or not captured. It returns both as last read.
func checkCompliance(t *testing.T, db, cdb *sql.DB, room string, wait time.Duration) (history, captured []poolPost) {
	var extra, twice, missing []poolPost
	deadline := time.Now().Add(wait)
	for {
		// Compliance first: whatever it holds was committed before
		// history is read.
		captured = capturedPosts(t, cdb, room)
		history = roomHistory(t, db, room)
		extra, twice, missing = complianceDiff(history, captured)
		if len(extra)+len(twice)+len(missing) == 0 || len(extra)+len(twice) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range extra {
		t.Errorf("compliance captured a post that is not in history: %v", p)
	}
	for _, p := range twice {
		t.Errorf("compliance captured a post twice: %v", p)
	}
	for _, p := range missing {
		t.Errorf("compliance did not capture %v (waited until %s)", p, deadline.Format(time.TimeOnly))
	}
	return history, captured
}
