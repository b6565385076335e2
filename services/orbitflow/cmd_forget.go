package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
)

// forgetStages are the stages that apply a forget and record it in
// forget_log; the command waits for each.
var forgetStages = []string{"sink", "scoring"}

// cmdForget runs `orbitflow members forget`: with `orbitflow run` up (or
// external servers) it talks to them; otherwise it starts the whole stack
// itself, so the sink and the scoring processor apply the command.
func cmdForget(ctx context.Context, cfg app.Config, set telemetry.Settings, community, member string, timeout time.Duration, stdout io.Writer) error {
	salt, err := cfg.Salt()
	if err != nil {
		return err
	}
	active := false
	if cfg.NATS.Mode == bus.ModeEmbedded {
		if _, active, err = app.WaitActiveRun(ctx, cfg.DataDir); err != nil {
			return err
		}
	}
	var (
		conn driver.Conn
		js   jetstream.JetStream
	)
	if cfg.NATS.Mode == bus.ModeEmbedded && !active {
		cfg.NATS.Embedded.Listen = ""
		stack, err := app.Start(ctx, cfg, app.All, set)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = stack.Shutdown(sctx)
		}()
		conn, js = stack.CH, stack.Bus.JetStream()
	} else {
		c, done, err := connectClickHouse(ctx, cfg, set)
		if err != nil {
			return err
		}
		defer done()
		j, closeBus, err := connectBus(ctx, cfg, false, set)
		if err != nil {
			return err
		}
		defer closeBus()
		conn, js = c, j
	}
	return forgetMember(ctx, conn, js, salt, community, member, timeout, stdout)
}

// forgetMember erases a member: it finds the member of id (a member id or
// any identity key of it) and all its identities, publishes a forget
// command carrying only their tombstones (and those of the username
// references activities may name them by), and waits until the sink and
// the scoring processor have applied it, which they do in stream order:
// when it returns, no row of the member is left and later events of its
// identities are dropped.
func forgetMember(ctx context.Context, conn driver.Conn, js jetstream.JetStream, salt *events.Salt,
	community, id string, timeout time.Duration, w io.Writer) error {
	if community == "" {
		var err error
		if community, err = memberCommunity(ctx, conn, id); err != nil {
			return err
		}
	}
	member, keys, err := memberKeys(ctx, conn, community, id)
	if err != nil {
		return err
	}
	cmd := events.IdentityCommand{ID: newCommandID(), Community: community, Kind: events.IdentityForget,
		RequestedBy: requester(), At: events.NewTimestamp(time.Now())}
	for _, k := range keys {
		cmd.Tombstones = append(cmd.Tombstones, salt.Tombstone(community, k))
	}
	if err := cmd.Validate(); err != nil {
		return fmt.Errorf("forget %s: %w", id, err)
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	ack, err := js.Publish(ctx, subjects.Identity(community), data, jetstream.WithMsgID(cmd.ID))
	if err != nil {
		return fmt.Errorf("publish the forget: %w (nothing was erased; run the command again)", err)
	}
	fmt.Fprintf(w, "forgetting member %s of %s (%d identity keys and username references): on the stream (seq %d)\n",
		member, community, len(keys), ack.Sequence)
	deadline := time.Now().Add(timeout)
	for _, stage := range forgetStages {
		for {
			var identities uint32
			var activities uint64
			err := conn.QueryRow(param(ctx, map[string]string{"c": community, "id": cmd.ID, "s": stage}),
				`SELECT identities, activities FROM forget_log FINAL
				 WHERE community = {c:String} AND command_id = {id:String} AND stage = {s:String}`).Scan(&identities, &activities)
			if err == nil {
				if stage == "sink" {
					fmt.Fprintf(w, "  sink: erased %d activities of %d identities, and every row kept from them\n", activities, identities)
				} else {
					fmt.Fprintf(w, "  scoring: erased the member's scores, edges, changes and identities\n")
				}
				break
			}
			if !isNoRows(err) {
				return fmt.Errorf("forget: read forget_log: %w", err)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("forget: the command is on the stream (seq %d) but the %s stage has not applied it within %s: "+
					"is `orbitflow run` (or the %s) running? It applies the command when it is; forget_log shows when (command_id %s)",
					ack.Sequence, stage, timeout, stage, cmd.ID)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	fmt.Fprintf(w, "member %s is forgotten: later events of its identities are dropped (tombstones in forgotten_identities)\n", member)
	return nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// memberCommunity finds the one community an identity or member id is in.
func memberCommunity(ctx context.Context, conn driver.Conn, id string) (string, error) {
	cs, err := queryStrings(param(ctx, map[string]string{"i": id}), conn, `SELECT DISTINCT community FROM (
		SELECT community FROM member_identities WHERE identity = {i:String} OR member_id = {i:String}
		UNION ALL SELECT community FROM activities_raw WHERE identity = {i:String}) ORDER BY community`)
	if err != nil {
		return "", err
	}
	return onlyCommunity(cs, fmt.Sprintf("%q", id),
		fmt.Errorf("%q is no member or identity of any community: check the id (source:source_id, as in members.member_id or activities.identity)", id))
}

// memberKeys returns the member of id and every key activities may name
// it by: its identity keys, and the username references of the names they
// use ("github:login:jane", "discourse:@jane", as seen and in lower case),
// as the scoring processor resolves them.
func memberKeys(ctx context.Context, conn driver.Conn, community, id string) (string, []string, error) {
	p := param(ctx, map[string]string{"c": community, "i": id})
	var member string
	err := conn.QueryRow(p, `SELECT argMax(member_id, stream_seq) FROM member_identities
		WHERE community = {c:String} AND identity = {i:String} HAVING count() > 0`).Scan(&member)
	switch {
	case isNoRows(err):
		member = id // a member id, or an identity the processor has not seen yet
	case err != nil:
		return "", nil, err
	}
	rows, err := conn.Query(param(ctx, map[string]string{"c": community, "m": member}), `SELECT identity, username FROM (
		SELECT identity, argMax(member_id, stream_seq) AS member, argMax(username, stream_seq) AS username
		FROM member_identities WHERE community = {c:String} GROUP BY identity) WHERE member = {m:String}
		UNION ALL
		SELECT DISTINCT identity, actor_username FROM activities_raw WHERE community = {c:String} AND identity = {m:String}`)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	keys := []string{}
	for rows.Next() {
		var identity, username string
		if err := rows.Scan(&identity, &username); err != nil {
			return "", nil, err
		}
		keys = append(keys, identity)
		source, _, _ := strings.Cut(identity, ":")
		if username != "" {
			for _, n := range []string{username, strings.ToLower(username)} {
				keys = append(keys, source+":login:"+n, source+":@"+n)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return "", nil, err
	}
	if !slices.Contains(keys, id) && !slices.Contains(keys, member) {
		return "", nil, errors.New("forget: " + id + " has no identities in community " + community +
			": check the id (source:source_id, as in members.member_id or activities.identity)")
	}
	slices.Sort(keys)
	return member, slices.Compact(keys), nil
}
