package compliance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleychat/parley/storage"
)

// Event types of the compliance setting.
const (
	EventEnable  = "compliance.enable"
	EventDisable = "compliance.disable"
)

// SettingActor is the Actor of the setting's events: the configuration
// changed, parleyd noticed it.
const SettingActor = "parleyd"

// StateFile is the file, in the node's data directory, in which
// RecordSetting remembers the compliance setting it last recorded.
const StateFile = "compliance.state"

// RecordSetting captures a change of a node's compliance setting (the
// compliance config key) between two starts, as an outbox event: it compares
// on with what the state file says was recorded last and, if they differ or
// nothing was recorded yet, appends a compliance.enable or
// compliance.disable event (payload: node, previous setting) and then
// updates the state file. Turning compliance off stops this node's worker;
// the event waits in the outbox for the next worker, on this or another
// node. It reports whether an event was appended.
//
// The state is per node because the setting is: a file in the node's data
// directory. Should the node die between the append and the file update,
// the next start records the same setting again, a harmless second event.
func RecordSetting(ctx context.Context, outbox storage.ComplianceOutbox, stateFile, node string, on bool) (bool, error) {
	setting := settingName(on)
	previous, err := RecordedSetting(stateFile)
	if err != nil {
		return false, err
	}
	if previous == "" {
		previous = "unknown"
	}
	if previous == setting {
		return false, nil
	}
	typ := EventDisable
	if on {
		typ = EventEnable
	}
	payload, err := json.Marshal(struct {
		Node     string `json:"node"`
		Previous string `json:"previous"`
	}{node, previous})
	if err != nil {
		return false, fmt.Errorf("compliance: recording the setting: %w", err)
	}
	ev := storage.OutboxEvent{EventID: newEventID(), Type: typ, Actor: SettingActor, Time: time.Now().UTC(), Payload: payload}
	if err := outbox.AppendOutbox(ctx, ev); err != nil {
		return false, fmt.Errorf("compliance: recording the setting: %w", err)
	}
	if err := writeFileAtomic(stateFile, []byte(setting+"\n")); err != nil {
		return true, fmt.Errorf("compliance: remembering the setting recorded: %w", err)
	}
	return true, nil
}

func settingName(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// newEventID returns a random event id, in the form the room engine uses.
func newEventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// writeFileAtomic replaces path with data: a temporary file renamed over
// it, so that a crash leaves the old content or the new, never half.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename: nothing there
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Status is what an operator wants to know about compliance capture; see
// ReadStatus.
type Status struct {
	// Lease is the worker lease (Holder empty: no active worker) judged
	// at DBTime, the compliance database's clock.
	Lease  storage.Lease
	DBTime time.Time
	// Outbox is the backlog in the content database.
	Outbox storage.OutboxStats
	// Captured is how many events the compliance database holds.
	Captured int64
	// Adapters are the adapters' positions and last runs, by name.
	Adapters []storage.AdapterPosition
}

// Lag is how long the oldest event waiting in the outbox has waited, by
// the clock now; 0 when the outbox is empty.
func (s Status) Lag(now time.Time) time.Duration {
	if s.Outbox.Oldest.IsZero() {
		return 0
	}
	return max(0, now.Sub(s.Outbox.Oldest))
}

// RecordedSetting returns the compliance setting that RecordSetting last
// recorded in stateFile ("on" or "off"), the setting the node using that
// data directory last started with; "" when none was recorded.
func RecordedSetting(stateFile string) (string, error) {
	b, err := os.ReadFile(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("compliance: reading the setting last recorded: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Active reports whether some node holds the worker lease.
func (s Status) Active() bool { return s.Lease.Holder != "" && s.DBTime.Before(s.Lease.Expires) }

// ReadStatus reads the worker lease, the outbox backlog, the number of
// events captured and the adapters' last runs.
func ReadStatus(ctx context.Context, outbox storage.ComplianceOutbox, store storage.ComplianceStore) (Status, error) {
	var (
		st  Status
		err error
	)
	if st.Lease, st.DBTime, err = store.Lease(ctx, LeaseName); err != nil {
		return Status{}, fmt.Errorf("compliance: status: %w", err)
	}
	if st.Outbox, err = outbox.OutboxStats(ctx); err != nil {
		return Status{}, fmt.Errorf("compliance: status: %w", err)
	}
	if st.Captured, err = store.CountComplianceEvents(ctx); err != nil {
		return Status{}, fmt.Errorf("compliance: status: %w", err)
	}
	if st.Adapters, err = store.AdapterPositions(ctx); err != nil {
		return Status{}, fmt.Errorf("compliance: status: %w", err)
	}
	return st, nil
}
