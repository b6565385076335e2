package signals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config is the `signals:` section of the orbitflow config.
type Config struct {
	// OptOut lists, per community, the members (member ids or identity
	// keys) who never produce signals, in addition to the opt-out bucket.
	OptOut map[string][]string `yaml:"opt_out"`
}

// Validate reports every problem with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	for _, community := range sortedKeys(c.OptOut) {
		if !IsName(community) {
			errs = append(errs, fmt.Errorf("%s.opt_out.%s: want a community name (a-z, 0-9, _ and -)", prefix, community))
		}
		for i, m := range c.OptOut[community] {
			if err := ValidMember(m); err != nil {
				errs = append(errs, fmt.Errorf("%s.opt_out.%s[%d]: %w", prefix, community, i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Loader reads the signal rules of the rules file at path (a missing file
// has none), validated with the rest of the file, and the file's
// external_url ("" for none).
type Loader func(path string) (rules []Rule, externalURL string, err error)

// Watcher keeps what the processor evaluates current: the rules (the
// rules file, reloaded within a few seconds of a change; a broken edit is
// logged and the rules in use stay) and the opt-outs (the config's and
// the bucket's, watched). Its methods are safe for concurrent use.
type Watcher struct {
	path  string
	load  Loader
	js    jetstream.JetStream
	log   *slog.Logger
	every time.Duration

	rules  atomic.Pointer[Set]
	extURL atomic.Pointer[string]
	static map[string]map[string]bool

	mu      sync.RWMutex
	dynamic map[string]map[string]bool // community → member → opted out (the bucket)

	cancel context.CancelFunc
	wg     sync.WaitGroup
	stamp  fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

// NewWatcher returns a watcher of the rules file at path (read with load)
// and of the opt-outs (cfg's, and the bucket's when js is not nil).
func NewWatcher(path string, load Loader, cfg Config, js jetstream.JetStream, log *slog.Logger) *Watcher {
	w := &Watcher{path: path, load: load, js: js, log: log, every: 2 * time.Second,
		static: map[string]map[string]bool{}, dynamic: map[string]map[string]bool{}}
	for c, ms := range cfg.OptOut {
		w.static[c] = map[string]bool{}
		for _, m := range ms {
			w.static[c][m] = true
		}
	}
	w.rules.Store(Compile(nil))
	return w
}

// Start loads the rules and the opt-outs (it returns once every opt-out
// in the bucket is known, so nothing is evaluated without them), then
// watches both on a context of its own.
func (w *Watcher) Start(ctx context.Context) error {
	w.reload()
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	if w.js != nil {
		o, err := OpenOptOuts(ctx, w.js)
		if err != nil {
			cancel()
			return err
		}
		kw, err := o.kv.WatchAll(runCtx)
		if err != nil {
			cancel()
			return fmt.Errorf("signals: watch opt-outs: %w", err)
		}
		initial := make(chan struct{})
		w.wg.Go(func() { w.watchOptOuts(runCtx, kw, initial) })
		select {
		case <-initial:
		case <-ctx.Done():
			cancel()
			w.wg.Wait()
			return fmt.Errorf("signals: load opt-outs: %w", ctx.Err())
		}
	}
	if w.path != "" {
		w.wg.Go(func() { w.poll(runCtx) })
	}
	return nil
}

// Shutdown stops watching. Idempotent; safe without Start.
func (w *Watcher) Shutdown(context.Context) error {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
	return nil
}

func (w *Watcher) watchOptOuts(ctx context.Context, kw jetstream.KeyWatcher, initial chan struct{}) {
	defer func() { _ = kw.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-kw.Updates():
			if !ok {
				return
			}
			if e == nil {
				if initial != nil {
					close(initial)
					initial = nil
				}
				continue
			}
			w.mu.Lock()
			if o, ok := decodeOptOut(e); ok {
				if w.dynamic[o.Community] == nil {
					w.dynamic[o.Community] = map[string]bool{}
				}
				w.dynamic[o.Community][o.Member] = true
			} else if e.Operation() != jetstream.KeyValuePut {
				w.forgetKey(e.Key())
			}
			w.mu.Unlock()
		}
	}
}

// forgetKey drops the opt-out of a deleted bucket key (under w.mu).
func (w *Watcher) forgetKey(key string) {
	for c, ms := range w.dynamic {
		for m := range ms {
			if optKey(c, m) == key {
				delete(ms, m)
				return
			}
		}
	}
}

func (w *Watcher) poll(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.reload()
		}
	}
}

// reload loads the rules file when it changed since the last load.
func (w *Watcher) reload() {
	if w.path == "" || w.load == nil {
		return
	}
	var st fileStamp
	if fi, err := os.Stat(w.path); err == nil {
		st = fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
	}
	if st == w.stamp {
		return
	}
	w.stamp = st
	rules, ext, err := w.load(w.path)
	if err != nil {
		w.log.Warn("signal rules not reloaded: the rules file is invalid; the rules in use stay", "file", w.path, "err", err)
		return
	}
	set := Compile(rules)
	w.rules.Store(set)
	w.extURL.Store(&ext)
	w.log.Info("signal rules loaded", "file", w.path, "rules", set.Len())
}

// Rules returns the enabled rules.
func (w *Watcher) Rules() *Set {
	if w == nil {
		return nil
	}
	return w.rules.Load()
}

// MemberURL links to member of community in the API under the rules
// file's external_url; "" without one.
func (w *Watcher) MemberURL(community, member string) string {
	if w == nil {
		return ""
	}
	ext := w.extURL.Load()
	if ext == nil || *ext == "" {
		return ""
	}
	return strings.TrimSuffix(*ext, "/") + "/api/v1/communities/" + url.PathEscape(community) + "/members/" + url.PathEscape(member)
}

// SetRules replaces the rules (tests, and `signals test`).
func (w *Watcher) SetRules(rules []Rule) { w.rules.Store(Compile(rules)) }

// OptedOut reports whether any of keys (a member id, its identity keys)
// opted out of signals in community.
func (w *Watcher) OptedOut(community string, keys ...string) bool {
	if w == nil {
		return false
	}
	for _, k := range keys {
		if w.static[community][k] {
			return true
		}
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	for _, k := range keys {
		if w.dynamic[community][k] {
			return true
		}
	}
	return false
}

// OptOuts lists the config's opt-outs of community ("" for all), marked
// Config, sorted.
func (c Config) OptOuts(community string) []OptOut {
	out := []OptOut{}
	for name, ms := range c.OptOut {
		if community != "" && name != community {
			continue
		}
		for _, m := range ms {
			out = append(out, OptOut{Community: name, Member: m, Config: true})
		}
	}
	sortOptOuts(out)
	return out
}
