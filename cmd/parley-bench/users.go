package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/parleychat/parley/internal/contentrules"
	"github.com/parleychat/parley/protocol/auth"
	"github.com/parleychat/parley/storage"
	"github.com/parleychat/parley/storage/backend"
)

// usersOptions are the settings of the users command.
type usersOptions struct {
	Storage  string
	Prefix   string
	Password string
	Count    int
	Offset   int
	Workers  int
}

// UsersReport is the result of the users command.
type UsersReport struct {
	Command  string         `json:"command"`
	Users    string         `json:"users"`
	Created  int            `json:"created"`
	Existing int            `json:"existing"`
	Failed   int            `json:"failed"`
	Failures map[string]int `json:"failures"`
	Workers  int            `json:"workers"`
	Seconds  float64        `json:"seconds"`
	// PerSecond is accounts created per second.
	PerSecond float64 `json:"per_second"`
}

// runUsers creates the accounts PREFIX{Offset}..PREFIX{Offset+Count-1}
// directly in the content database, skipping those that exist. Deriving
// the SCRAM credentials (PBKDF2) is most of the work, so it runs on
// o.Workers goroutines.
func runUsers(ctx context.Context, log *slog.Logger, o usersOptions) (*UsersReport, error) {
	start := time.Now()
	store, err := backend.Open(ctx, o.Storage, contentrules.Rules{})
	if err != nil {
		return nil, fmt.Errorf("opening --storage: %w", err)
	}
	defer store.Close()
	names, err := store.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	exists := make(map[string]bool, len(names))
	for _, n := range names {
		exists[n] = true
	}

	r := &UsersReport{
		Command:  "users",
		Users:    userRange(o.Prefix, o.Offset, o.Count),
		Failures: make(map[string]int),
		Workers:  o.Workers,
	}
	var mu sync.Mutex
	count := func(created bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, storage.ErrExists):
			r.Existing++
		case err != nil:
			r.Failed++
			r.Failures[err.Error()]++
		case created:
			r.Created++
		}
	}

	todo := make(chan string)
	var wg sync.WaitGroup
	for range max(o.Workers, 1) {
		wg.Go(func() {
			for name := range todo {
				count(true, createUser(ctx, store, name, o.Password))
			}
		})
	}
	log.Info("creating users", "users", r.Users, "accounts_before", len(names))
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				mu.Lock()
				log.Info("creating users", "created", r.Created, "existing", r.Existing, "failed", r.Failed, "of", o.Count)
				mu.Unlock()
			}
		}
	}()
	defer close(stopProgress)
feed:
	for i := range o.Count {
		name, err := auth.NormalizeUsername(fmt.Sprintf("%s%d", o.Prefix, o.Offset+i))
		if err != nil {
			close(todo)
			wg.Wait()
			return nil, err
		}
		if exists[name] {
			count(false, storage.ErrExists)
			continue
		}
		select {
		case todo <- name:
		case <-ctx.Done():
			break feed
		}
	}
	close(todo)
	wg.Wait()
	elapsed := time.Since(start)
	r.Seconds = round(elapsed.Seconds(), 3)
	r.PerSecond = round(float64(r.Created)/elapsed.Seconds(), 1)
	if ctx.Err() != nil {
		return r, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return r, nil
}

// createUser derives the user's SCRAM credentials and creates the account.
func createUser(ctx context.Context, store storage.Store, name, password string) error {
	creds, err := auth.DeriveCredentials(name, password)
	if err != nil {
		return fmt.Errorf("deriving credentials: %w", err)
	}
	if err := store.CreateAccount(ctx, name, creds, nil, nil); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return err
		}
		return fmt.Errorf("creating account: %w", err)
	}
	return nil
}

// Text is the human-readable report.
func (r *UsersReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "parley-bench users: %s\n", r.Users)
	fmt.Fprintf(&b, "created       %d in %.1f s (%.0f/s, %d workers)\n", r.Created, r.Seconds, r.PerSecond, r.Workers)
	fmt.Fprintf(&b, "existing      %d (skipped)\n", r.Existing)
	fmt.Fprintf(&b, "failed        %d: %s\n", r.Failed, formatCounts(r.Failures))
	return b.String()
}
