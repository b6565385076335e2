package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
)

// RunState is what `orbitflow run` publishes in <data-dir>/run.json so that
// `ingest` and `sql` talk to it instead of opening the data dir themselves.
// The file holds the NATS token: it is written 0600.
type RunState struct {
	PID            int       `json:"pid"`
	NATSURL        string    `json:"nats_url"`
	NATSToken      string    `json:"nats_token"`
	ClickHouseHTTP string    `json:"clickhouse_http"`
	Database       string    `json:"database"`
	StartedAt      time.Time `json:"started_at"`
}

const (
	stateFile = "run.json"
	lockFile  = "orbitflow.lock"
)

// ErrBusy means another process holds the data dir.
var ErrBusy = errors.New("data dir is in use by another orbitflow process")

// DirLock is an exclusive lock on a data dir, held while a process has the
// embedded NATS or ClickHouse files open. The kernel releases it when the
// process dies, so a crash leaves no stale lock.
type DirLock struct{ f *os.File }

// LockDataDir takes the lock without waiting; ErrBusy if it is held.
func LockDataDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	return &DirLock{f: f}, nil
}

// Release drops the lock. Idempotent.
func (l *DirLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// WriteState publishes st atomically.
func WriteState(dir string, st RunState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// RemoveState withdraws run.json.
func RemoveState(dir string) { _ = os.Remove(filepath.Join(dir, stateFile)) }

// ActiveRun returns the state of the `orbitflow run` holding dir, or
// ok=false when no process holds it. A process that holds the lock without
// publishing a state (another standalone ingest) is ErrBusy.
func ActiveRun(dir string) (st RunState, ok bool, err error) {
	lock, err := LockDataDir(dir)
	if err == nil {
		lock.Release()
		return st, false, nil
	}
	if !errors.Is(err, ErrBusy) {
		return st, false, err
	}
	data, rerr := os.ReadFile(filepath.Join(dir, stateFile))
	if rerr != nil {
		return st, false, fmt.Errorf("%w (%s) and it serves no run.json: wait for it to finish, or stop it", ErrBusy, dir)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, false, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	if !processAlive(st.PID) {
		// Left by a run that was killed; the process now holding the lock
		// has not published its own yet.
		return RunState{}, false, fmt.Errorf("%w (%s) and its run.json is stale (pid %d is gone): wait for it to finish starting", ErrBusy, dir, st.PID)
	}
	return st, true, nil
}

// processAlive reports whether pid names a running process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// WaitActiveRun is ActiveRun that gives a starting `orbitflow run` up to 30
// seconds to publish its run.json.
func WaitActiveRun(ctx context.Context, dir string) (RunState, bool, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok, err := ActiveRun(dir)
		if err == nil || !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			return st, ok, err
		}
		select {
		case <-ctx.Done():
			return st, false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

const apiKeyFile = "api-key"

// LoadOrCreateAPIKey returns the API key kept in <dir>/api-key, creating a
// random one (mode 0600) on first use.
func LoadOrCreateAPIKey(dir string) (string, error) {
	path := filepath.Join(dir, apiKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	key := "of_" + hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("api key: %w", err)
	}
	return key, nil
}

const saltFile = "email-salt"

// LoadOrCreateSalt returns the e-mail salt kept in <dir>/email-salt,
// creating a random one (32 bytes, hex; mode 0600) on first use. Losing
// it breaks e-mail merges with what is stored and the tombstones of
// forgotten identities: back it up with the data.
func LoadOrCreateSalt(dir string) (*events.Salt, error) {
	path := filepath.Join(dir, saltFile)
	if b, err := os.ReadFile(path); err == nil {
		if k := strings.TrimSpace(string(b)); k != "" {
			s, err := events.NewSalt(k)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return s, nil
		}
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(b[:])
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("e-mail salt: %w", err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("e-mail salt: %w", err)
	}
	return events.NewSalt(key)
}
