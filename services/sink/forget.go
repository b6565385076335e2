package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/store"
)

// forgetStage names the sink in forget_log.
const forgetStage = "sink"

// forgetter holds the tombstones of forgotten identities (keyed hashes,
// events.Salt.Tombstone) and erases what the sink wrote about them. The
// fetch loop reads the set (add); a forget command updates it in stream
// order, so every event after the command is dropped.
type forgetter struct {
	salt    *events.Salt
	js      jetstream.JetStream
	ch      driver.Conn
	log     *slog.Logger
	dropped metric.Int64Counter
	// rollupEvery is the health refresher's interval in this sink (0: it
	// runs elsewhere, or not at all).
	rollupEvery time.Duration

	n  atomic.Int64 // dropped, as the metric counts them
	mu sync.RWMutex
	// set holds the tombstones; per counts them by community, so a
	// community with none costs no hashing.
	set map[string]struct{}
	per map[string]int
}

func newForgetter(salt *events.Salt, deps Deps, log *slog.Logger, dropped metric.Int64Counter) *forgetter {
	return &forgetter{salt: salt, js: deps.JS, ch: deps.CH, log: log, dropped: dropped,
		set: map[string]struct{}{}, per: map[string]int{}}
}

// load reads the tombstones recorded so far.
func (f *forgetter) load(ctx context.Context) error {
	rows, err := f.ch.Query(ctx, "SELECT community, tombstone FROM forgotten_identities")
	if err != nil {
		return fmt.Errorf("sink: load forgotten identities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c, ts string
		if err := rows.Scan(&c, &ts); err != nil {
			return fmt.Errorf("sink: load forgotten identities: %w", err)
		}
		f.add(c, []string{ts})
	}
	return rows.Err()
}

// drop counts a dropped event.
func (f *forgetter) drop() {
	f.dropped.Add(context.Background(), 1)
	f.n.Add(1)
}

// email is what is stored of an e-mail hash: keyed by the salt (as it
// comes for a nil forgetter: Rows, the bench's buffer, never the sink).
func (f *forgetter) email(sha string) string {
	if f == nil {
		return sha
	}
	return f.salt.Email(sha)
}

func (f *forgetter) add(community string, tombstones []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ts := range tombstones {
		if _, ok := f.set[ts]; !ok {
			f.set[ts] = struct{}{}
			f.per[community]++
		}
	}
}

// forgotten reports whether the identity key (or username reference) key
// of community was forgotten (never, for a nil forgetter).
func (f *forgetter) forgotten(community, key string) bool {
	if f == nil {
		return false
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.per[community] == 0 {
		return false
	}
	_, ok := f.set[f.salt.Tombstone(community, key)]
	return ok
}

// sinkErasure is what the sink erases, in order, for a forgotten member's
// identity keys and username references ({keys}, a table of (community,
// key)): the activities and every rollup kept from them. The rollups of
// the health refresher are recomputed for the days and threads the
// member was active in (marked dirty first). Activities of others keep
// their rows; the member is taken out of their targets.
var sinkErasure = []string{
	`ALTER TABLE activities_raw DELETE WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	`ALTER TABLE activities_raw UPDATE
		target_kinds = arrayFilter((k, t) -> NOT has((SELECT groupArray(key) FROM {keys}), t), target_kinds, target_member_ids),
		target_member_ids = arrayFilter(t -> NOT has((SELECT groupArray(key) FROM {keys}), t), target_member_ids)
		WHERE community = {c:String} AND hasAny(target_member_ids, (SELECT groupArray(key) FROM {keys}))`,
	`ALTER TABLE identity_daily DELETE WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	`ALTER TABLE identity_firsts DELETE WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	`ALTER TABLE thread_activity DELETE WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	`ALTER TABLE identity_tag_daily DELETE WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	`ALTER TABLE interactions_daily DELETE WHERE community = {c:String}
		AND (actor IN (SELECT key FROM {keys}) OR target IN (SELECT key FROM {keys}))`,
	`ALTER TABLE rollup_dirty_identities DELETE WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	// The member's e-mail domains and explicit account mappings (0026).
	`ALTER TABLE identity_domains DELETE WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	`ALTER TABLE account_members_raw DELETE WHERE community = {c:String} AND member IN (SELECT key FROM {keys})`,
	// Events of the member the sink (or ingest) rejected.
	`ALTER TABLE dead_letters_raw DELETE WHERE JSONExtractString(payload, 'community') = {c:String}
		AND concat(JSONExtractString(payload, 'actor', 'source'), ':', JSONExtractString(payload, 'actor', 'source_id')) IN (SELECT key FROM {keys})`,
	// Alerts whose key is the member (member_silence) or one of its roles
	// (role_cadence: "member/role"), and the notifications naming it.
	`ALTER TABLE alerts DELETE WHERE community = {c:String} AND splitByChar('/', key)[1] IN (SELECT key FROM {keys})`,
	`ALTER TABLE alert_events DELETE WHERE community = {c:String} AND splitByChar('/', key)[1] IN (SELECT key FROM {keys})`,
	`ALTER TABLE alert_notifications DELETE WHERE community = {c:String}
		AND arrayExists(k -> position(body, concat('"', k)) > 0, (SELECT groupArray(key) FROM {keys}))`,
}

// refresherErasure is what the health refresher (store.Rollups) writes of
// identities (identity_key = cityHash64(community, identity)). A refresh
// that read the exact rollups before they were erased may write after
// this ran, so it runs again once a refresh has started after them.
var refresherErasure = []string{
	`ALTER TABLE member_periods DELETE WHERE community = {c:String}
		AND identity_key IN (SELECT cityHash64(community, key) FROM {keys})`,
	`ALTER TABLE identity_lifetimes DELETE WHERE community = {c:String}
		AND identity_key IN (SELECT cityHash64(community, key) FROM {keys})`,
	`ALTER TABLE identity_type_firsts DELETE WHERE community = {c:String}
		AND identity_key IN (SELECT cityHash64(community, key) FROM {keys})`,
	`ALTER TABLE items DELETE WHERE community = {c:String}
		AND (opener IN (SELECT key FROM {keys}) OR responder IN (SELECT key FROM {keys}))`,
}

// sinkDirty marks the member's days, threads and months for the health
// refresher before the rows that say which they are are erased.
var sinkDirty = []string{
	`INSERT INTO rollup_dirty_days (community, day, inserted_at)
		SELECT DISTINCT community, day, now64(3) FROM identity_daily
		WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	`INSERT INTO rollup_dirty_cohorts (community, month, inserted_at)
		SELECT DISTINCT community, toStartOfMonth(day), now64(3) FROM identity_daily
		WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
	`INSERT INTO rollup_dirty_threads (community, thread_id, inserted_at)
		SELECT DISTINCT community, thread_id, now64(3) FROM thread_activity
		WHERE community = {c:String} AND identity IN (SELECT key FROM {keys})`,
}

// erase applies a forget command after the rows before it are written:
// it finds the identity keys and username references the command's
// tombstones stand for, erases their rows (waiting for every mutation),
// deletes their messages from the activity stream, and records the
// tombstones and the erasure (forget_log). Idempotent: a retry or a
// redelivered command finds nothing more, and records the same rows.
func (f *forgetter) erase(ctx context.Context, cmd *events.IdentityCommand) error {
	want := map[string]bool{}
	for _, ts := range cmd.Tombstones {
		want[ts] = true
	}
	pctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"c": cmd.Community}))
	// Every key an activity may name: actors (identity_firsts follows
	// activities_raw), identities the scoring processor saw, and targets
	// (username references included).
	rows, err := f.ch.Query(pctx, `SELECT DISTINCT identity FROM identity_firsts WHERE community = {c:String}
		UNION DISTINCT SELECT identity FROM member_identities WHERE community = {c:String}
		UNION DISTINCT SELECT target FROM interactions_daily WHERE community = {c:String}`)
	if err != nil {
		return fmt.Errorf("forget: find the identities: %w", err)
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fmt.Errorf("forget: find the identities: %w", err)
		}
		if want[f.salt.Tombstone(cmd.Community, k)] {
			keys = append(keys, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("forget: find the identities: %w", err)
	}
	var erased uint64
	if len(keys) > 0 {
		if erased, err = f.eraseKeys(pctx, cmd.Community, keys); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	var tomb [][]any
	for _, ts := range cmd.Tombstones {
		tomb = append(tomb, []any{cmd.Community, ts, cmd.ID, now})
	}
	if err := store.Insert(ctx, f.ch, "forgotten_identities", "community, tombstone, command_id, forgotten_at", tomb); err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	if err := store.Insert(ctx, f.ch, "forget_log", "community, command_id, stage, members, identities, activities, applied_at",
		[][]any{{cmd.Community, cmd.ID, forgetStage, uint32(0), uint32(len(keys)), erased, now}}); err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	f.log.Info("forgot a member's identities", "community", cmd.Community, "command", cmd.ID,
		"keys", len(keys), "activities", erased)
	return nil
}

// eraseKeys erases the rows of keys and returns how many activities they
// had.
func (f *forgetter) eraseKeys(ctx context.Context, community string, keys []string) (uint64, error) {
	e, err := store.NewErasure(ctx, f.ch, community, keys)
	if err != nil {
		return 0, fmt.Errorf("forget: %w", err)
	}
	defer func() { _ = e.Close(context.WithoutCancel(ctx)) }()
	var seqs []uint64
	rows, err := f.ch.Query(ctx, "SELECT stream_seq FROM activities_raw WHERE community = {c:String} AND identity IN (SELECT key FROM "+e.Keys+")")
	if err != nil {
		return 0, fmt.Errorf("forget: read the activities: %w", err)
	}
	for rows.Next() {
		var s uint64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return 0, fmt.Errorf("forget: read the activities: %w", err)
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("forget: read the activities: %w", err)
	}
	for _, q := range sinkDirty {
		if err := f.ch.Exec(ctx, replaceKeys(q, e.Keys)); err != nil {
			return 0, fmt.Errorf("forget: mark the rollups: %w", err)
		}
	}
	for _, q := range append(slices.Clone(sinkErasure), refresherErasure...) {
		if err := e.Mutate(ctx, q); err != nil {
			return 0, fmt.Errorf("forget: %w", err)
		}
	}
	if f.rollupEvery > 0 {
		if err := f.afterRefresh(ctx, e); err != nil {
			return 0, err
		}
	}
	if err := f.purge(ctx, seqs); err != nil {
		return 0, err
	}
	return uint64(len(seqs)), nil
}

// afterRefresh waits until a health refresh has started after the exact
// rollups were erased (its watermark is its start), then erases what the
// refresher writes again: a refresh running meanwhile may have written
// rows of the member from what it read before. Bounded: a refresher that
// does not come within a few intervals is logged, not waited for.
func (f *forgetter) afterRefresh(ctx context.Context, e *store.Erasure) error {
	var t0 time.Time
	if err := f.ch.QueryRow(ctx, "SELECT now64(3)").Scan(&t0); err != nil {
		return fmt.Errorf("forget: read the server clock: %w", err)
	}
	deadline := time.Now().Add(3*f.rollupEvery + 30*time.Second)
	for {
		var mark time.Time
		if err := f.ch.QueryRow(ctx, "SELECT max(watermark) FROM rollup_state").Scan(&mark); err != nil {
			return fmt.Errorf("forget: read rollup_state: %w", err)
		}
		if mark.After(t0) {
			break
		}
		if time.Now().After(deadline) {
			f.log.Warn("forget: no health refresh came after the erasure; rows a refresh was writing meanwhile may remain",
				"waited", 3*f.rollupEvery+30*time.Second)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.rollupEvery / 4):
		}
	}
	for _, q := range refresherErasure {
		if err := e.Mutate(ctx, q); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
	}
	return nil
}

// purge deletes messages of the activity stream (their data overwritten
// on disk); a message already gone is no error.
func (f *forgetter) purge(ctx context.Context, seqs []uint64) error {
	if f == nil || len(seqs) == 0 {
		return nil
	}
	st, err := f.js.Stream(ctx, subjects.ActivityStream)
	if err != nil {
		return fmt.Errorf("forget: the activity stream: %w", err)
	}
	for _, s := range seqs {
		if s == 0 {
			continue
		}
		if err := st.SecureDeleteMsg(ctx, s); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("forget: delete stream message %d: %w", s, err)
		}
	}
	return nil
}

func replaceKeys(q, table string) string { return strings.ReplaceAll(q, "{keys}", table) }
