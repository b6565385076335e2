package bus_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// The users of deploy/nats/nats.conf (server mode).
var natsUsers = []string{"admin", "connectors", "sink", "processor", "alerts", "processors", "api"}

// documentedNATS starts a real nats-server with deploy/nats/nats.conf as
// documented (passwords from the environment), listening on loopback, and
// returns its URL.
func documentedNATS(t *testing.T) string {
	t.Helper()
	for _, u := range natsUsers {
		t.Setenv("NATS_"+strings.ToUpper(u)+"_PASSWORD", u+"-secret")
	}
	opts, err := server.ProcessConfigFile(filepath.Join("..", "..", "..", "deploy", "nats", "nats.conf"))
	require.NoError(t, err, "deploy/nats/nats.conf is a valid server config")
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second))
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv.ClientURL()
}

// startAs starts a bus in external mode as user, the way a split service
// does (nats.external.manage_streams false unless manage).
func startAs(t *testing.T, url, user string, manage bool) (*bus.Bus, error) {
	t.Helper()
	cfg := bus.DefaultConfig()
	cfg.Mode = bus.ModeExternal
	cfg.External = bus.ExternalConfig{URLs: []string{url}, User: user, Password: user + "-secret", ManageStreams: manage}
	require.NoError(t, cfg.Validate("nats"))
	b := bus.New(cfg, t.TempDir(), telemetry.Nop())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := b.Start(ctx)
	if err == nil {
		t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	}
	return b, err
}

// refused asserts that the operation failed because NATS refused it: the
// server reports a permissions violation on subject (asynchronously, so a
// request usually ends in a timeout) and never answers.
func refused(t *testing.T, js jetstream.JetStream, err error, subject, what string) {
	t.Helper()
	require.Error(t, err, "%s must be refused", what)
	last := js.Conn().LastError()
	require.Truef(t, errors.Is(err, nats.ErrPermissionViolation) || last != nil && strings.Contains(last.Error(), "Permissions Violation") &&
		strings.Contains(last.Error(), subject), "%s: want a permissions violation on %s, got %v (last connection error: %v)", what, subject, err, last)
}

// short is a context for an operation that may be dropped by the server.
func short() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Second)
}

// Each service's user in deploy/nats/nats.conf can do its job with
// manage_streams false, and is refused what it must not do. The admin
// declares the streams first; before that a restricted user cannot start
// and is told how to fix it.
func TestDocumentedNATSPermissions(t *testing.T) {
	url := documentedNATS(t)
	ctx := context.Background()

	_, err := startAs(t, url, "sink", false)
	require.ErrorContains(t, err, "run `orbitflow streams apply` with the admin user", "no streams yet")
	_, err = startAs(t, url, "sink", true)
	require.ErrorContains(t, err, "declare stream "+subjects.ActivityStream, "a service user cannot declare streams")
	admin, err := startAs(t, url, "admin", true)
	require.NoError(t, err, "the admin declares the streams")
	// A message in the stream the restricted users must not be able to read.
	_, err = admin.JetStream().Publish(ctx, subjects.Activity("acme", "github"), []byte(`{"id":"a1"}`), jetstream.WithMsgID("a1"))
	require.NoError(t, err)

	start := func(user string) jetstream.JetStream {
		t.Helper()
		b, err := startAs(t, url, user, false)
		require.NoError(t, err, "%s starts with manage_streams false", user)
		return b.JetStream()
	}

	t.Run("connectors", func(t *testing.T) {
		js := start("connectors")
		ack, err := js.Publish(ctx, subjects.Activity("acme", "github"), []byte(`{"id":"a2"}`), jetstream.WithMsgID("a2"))
		require.NoError(t, err, "publishes an activity and reads its ack")
		require.Equal(t, subjects.ActivityStream, ack.Stream)
		ack, err = js.Publish(ctx, subjects.DeadLetter(subjects.StageGateway, "github"), []byte("bad"))
		require.NoError(t, err, "publishes a dead letter")
		require.Equal(t, subjects.DeadLetterStream, ack.Stream)

		c, cancel := short()
		defer cancel()
		_, err = js.OrderedConsumer(c, subjects.ActivityStream, jetstream.OrderedConsumerConfig{})
		refused(t, js, err, "$JS.API.CONSUMER.CREATE.ACTIVITIES", "connectors reading ACTIVITIES")
		c2, cancel2 := short()
		defer cancel2()
		st, err := js.Stream(c2, subjects.ActivityStream)
		require.NoError(t, err)
		_, err = st.GetMsg(c2, 1)
		refused(t, js, err, "ACTIVITIES", "connectors getting a message of ACTIVITIES")
		c3, cancel3 := short()
		defer cancel3()
		_, err = js.Publish(c3, subjects.AlertChangePrefix+".acme", []byte("x"))
		refused(t, js, err, "alerts.changes.acme", "connectors publishing an alert")
		c4, cancel4 := short()
		defer cancel4()
		_, err = js.Publish(c4, subjects.Identity("acme"), []byte("x"))
		refused(t, js, err, "identity.acme", "connectors publishing an identity command")
	})

	t.Run("sink", func(t *testing.T) {
		js := start("sink")
		decls := subjects.SinkConsumers(100, time.Second)
		// A shard's own durable with sink.shards 6, the deploy's.
		shard := decls[0]
		shard.Durable = subjects.SinkActivitiesOf(5, 6)
		for _, decl := range append(decls, shard) {
			cons, err := bus.EnsureConsumer(ctx, js, decl)
			require.NoError(t, err, "declares its durable %s", decl.Durable)
			batch, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
			require.NoError(t, err)
			n := 0
			for m := range batch.Messages() {
				require.NoError(t, m.DoubleAck(ctx), "acks on %s", decl.Durable)
				n++
			}
			require.NoError(t, batch.Error())
			require.Positive(t, n, "reads %s", decl.Stream)
		}
		_, err := js.Publish(ctx, subjects.DeadLetter(subjects.StageSink, "github"), []byte("rejected"))
		require.NoError(t, err, "dead-letters what it rejects")
		st, err := js.Stream(ctx, subjects.ActivityStream)
		require.NoError(t, err)
		require.NoError(t, st.SecureDeleteMsg(ctx, 1), "deletes a forgotten member's message")
		listsConsumers(t, js, "the sink's /readyz")
		sharesGroup(t, js, "sink")

		c, cancel := short()
		defer cancel()
		_, err = js.Publish(c, subjects.Activity("acme", "github"), []byte(`{"id":"s1"}`))
		refused(t, js, err, "activities.acme.github", "the sink publishing an activity")
		c2, cancel2 := short()
		defer cancel2()
		_, err = js.OrderedConsumer(c2, subjects.AlertStream, jetstream.OrderedConsumerConfig{})
		refused(t, js, err, "$JS.API.CONSUMER.CREATE.ALERTS", "the sink reading ALERTS")
		c3, cancel3 := short()
		defer cancel3()
		refused(t, js, js.DeleteStream(c3, subjects.ActivityStream), "$JS.API.STREAM.DELETE.ACTIVITIES", "the sink deleting ACTIVITIES")
	})

	t.Run("processor", func(t *testing.T) {
		js := start("processor")
		cons, err := js.OrderedConsumer(ctx, subjects.ActivityStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subjects.ActivityPrefix + ".>", subjects.IdentityPrefix + ".>"}})
		require.NoError(t, err, "reads ACTIVITIES in order")
		m, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		require.NoError(t, err)
		require.NotEmpty(t, m.Data())
		_, err = js.Consumer(ctx, subjects.ActivityStream, subjects.SinkActivities)
		require.NoError(t, err, "reads the sink's progress")
		store, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "orbitflow-scoring", Storage: jetstream.FileStorage})
		require.NoError(t, err, "declares its checkpoint bucket")
		_, err = store.PutBytes(ctx, "checkpoint", bytes.Repeat([]byte("x"), 300<<10))
		require.NoError(t, err, "writes a checkpoint")
		got, err := store.GetBytes(ctx, "checkpoint")
		require.NoError(t, err, "reads it back")
		require.Len(t, got, 300<<10)

		c, cancel := short()
		defer cancel()
		_, err = js.Publish(c, subjects.Activity("acme", "github"), []byte(`{"id":"p1"}`))
		refused(t, js, err, "activities.acme.github", "the processor publishing an activity")
		c2, cancel2 := short()
		defer cancel2()
		_, err = js.CreateOrUpdateConsumer(c2, subjects.ActivityStream, jetstream.ConsumerConfig{Durable: subjects.SinkActivities, AckPolicy: jetstream.AckExplicitPolicy})
		refused(t, js, err, "$JS.API.CONSUMER.CREATE.ACTIVITIES.sink-activities", "the processor taking over the sink's durable")
		c3, cancel3 := short()
		defer cancel3()
		_, err = js.CreateOrUpdateObjectStore(c3, jetstream.ObjectStoreConfig{Bucket: "another"})
		refused(t, js, err, "OBJ_another", "the processor creating another bucket")
	})

	t.Run("alerts", func(t *testing.T) {
		js := start("alerts")
		cons, err := js.OrderedConsumer(ctx, subjects.ActivityStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subjects.ActivityFilter("")}, HeadersOnly: true})
		require.NoError(t, err, "watches ACTIVITIES")
		_, err = cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		require.NoError(t, err)
		_, err = js.Publish(ctx, subjects.AlertChange("acme"), []byte("{}"), jetstream.WithMsgID("c1"))
		require.NoError(t, err, "publishes a change")
		_, err = js.Publish(ctx, subjects.AlertDelivery("ops"), []byte("{}"), jetstream.WithMsgID("d1"))
		require.NoError(t, err, "publishes a delivery")
		dcons, err := bus.EnsureConsumer(ctx, js, subjects.AlertConsumer(3))
		require.NoError(t, err, "declares the notifier's durable")
		m, err := dcons.Next(jetstream.FetchMaxWait(2 * time.Second))
		require.NoError(t, err)
		require.NoError(t, m.NakWithDelay(time.Millisecond), "retries a delivery later")
		_, err = js.Publish(ctx, subjects.DeadLetter(subjects.StageAlerts, "ops"), []byte("{}"))
		require.NoError(t, err, "dead-letters a refused notification")
		sub, err := js.Conn().QueueSubscribe(subjects.AlertControl, "alerts", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Unsubscribe() })
		require.NoError(t, js.Conn().Flush())

		api := start("api")
		reply, err := api.Conn().Request(subjects.AlertControl, []byte("ping"), 3*time.Second)
		require.NoError(t, err, "the API asks the evaluator, which answers")
		require.Equal(t, "pong", string(reply.Data))

		c, cancel := short()
		defer cancel()
		_, err = js.Publish(c, subjects.Activity("acme", "github"), []byte(`{"id":"al1"}`))
		refused(t, js, err, "activities.acme.github", "the alerts user publishing an activity")
		c2, cancel2 := short()
		defer cancel2()
		_, err = js.Publish(c2, subjects.DeadLetter(subjects.StageGateway, "github"), []byte("x"))
		refused(t, js, err, "deadletter.gateway.github", "the alerts user dead-lettering as the gateway")
	})

	// --target processors: scoring and alerts in one process, one user.
	t.Run("processors", func(t *testing.T) {
		js := start("processors")
		cons, err := js.OrderedConsumer(ctx, subjects.ActivityStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subjects.ActivityPrefix + ".>", subjects.IdentityPrefix + ".>"}})
		require.NoError(t, err, "reads ACTIVITIES in order")
		_, err = cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		require.NoError(t, err)
		store, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "orbitflow-scoring", Storage: jetstream.FileStorage})
		require.NoError(t, err, "declares its checkpoint bucket")
		_, err = store.PutBytes(ctx, "checkpoint-processors", []byte("state"))
		require.NoError(t, err, "writes a checkpoint")
		_, err = js.Publish(ctx, subjects.AlertChange("acme"), []byte("{}"), jetstream.WithMsgID("pc1"))
		require.NoError(t, err, "publishes an alert change")
		_, err = bus.EnsureConsumer(ctx, js, subjects.AlertConsumer(3))
		require.NoError(t, err, "declares the notifier's durable")
		listsConsumers(t, js, "the processors' /readyz")
		takesLease(t, js, "processors")
		sharesGroup(t, js, "scoring")
		c0, cancel0 := short()
		defer cancel0()
		_, err = bus.AcquireLease(c0, js, "sink.shard.0", "test", 3*time.Second, slog.New(slog.DiscardHandler))
		require.Error(t, err, "the processors taking a sink shard's lease must be refused")

		c, cancel := short()
		defer cancel()
		_, err = js.Publish(c, subjects.Activity("acme", "github"), []byte(`{"id":"ps1"}`))
		refused(t, js, err, "activities.acme.github", "the processors publishing an activity")
		c2, cancel2 := short()
		defer cancel2()
		_, err = js.CreateOrUpdateConsumer(c2, subjects.ActivityStream, jetstream.ConsumerConfig{Durable: subjects.SinkActivities, AckPolicy: jetstream.AckExplicitPolicy})
		refused(t, js, err, "$JS.API.CONSUMER.CREATE.ACTIVITIES.sink-activities", "the processors taking over the sink's durable")
		c3, cancel3 := short()
		defer cancel3()
		_, err = js.CreateOrUpdateConsumer(c3, subjects.ActivityStream, jetstream.ConsumerConfig{Durable: subjects.SinkActivitiesOf(2, 6), AckPolicy: jetstream.AckExplicitPolicy})
		refused(t, js, err, "$JS.API.CONSUMER.CREATE.ACTIVITIES.sink-activities-2-of-6", "the processors taking over a sink shard's durable")
	})

	// Signals: the scoring processor publishes signal deliveries and
	// watches the opt-out bucket; the API writes and reads it.
	t.Run("signals", func(t *testing.T) {
		const bucket = "orbitflow-signal-optouts" // alerts.OptOutBucket
		for _, user := range []string{"processor", "processors"} {
			js := start(user)
			kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 1, Storage: jetstream.FileStorage})
			require.NoError(t, err, "%s declares the opt-out bucket", user)
			w, err := kv.WatchAll(ctx)
			require.NoError(t, err, "%s watches the opt-outs", user)
			select {
			case e := <-w.Updates():
				require.Nil(t, e, "%s: the initial values end", user)
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: the watch sent nothing", user)
			}
			require.NoError(t, w.Stop())
			_, err = js.Publish(ctx, subjects.AlertDelivery("crm"), []byte("{}"), jetstream.WithMsgID("sig-"+user))
			require.NoError(t, err, "%s queues a signal delivery", user)
		}
		api := start("api")
		kv, err := api.KeyValue(ctx, bucket)
		require.NoError(t, err, "the API opens the opt-out bucket")
		_, err = kv.Put(ctx, "acme.Z2l0aHViOjE", []byte(`{"community":"acme","member":"github:1"}`))
		require.NoError(t, err, "the API records an opt-out")
		e, err := kv.Get(ctx, "acme.Z2l0aHViOjE")
		require.NoError(t, err, "the API reads it")
		require.Contains(t, string(e.Value()), "github:1")
		w, err := kv.Watch(ctx, "acme.>", jetstream.IgnoreDeletes())
		require.NoError(t, err, "the API lists the opt-outs")
		select {
		case e := <-w.Updates():
			require.NotNil(t, e)
			require.Equal(t, "acme.Z2l0aHViOjE", e.Key())
		case <-time.After(5 * time.Second):
			t.Fatal("the API's watch sent nothing")
		}
		require.NoError(t, w.Stop())
		require.NoError(t, kv.Delete(ctx, "acme.Z2l0aHViOjE"), "the API removes an opt-out")

		c, cancel := short()
		defer cancel()
		_, err = api.Publish(c, subjects.AlertDelivery("crm"), []byte("{}"))
		refused(t, api, err, "alerts.deliveries.crm", "the API queueing a delivery")
		js := start("processor")
		c2, cancel2 := short()
		defer cancel2()
		_, err = js.Publish(c2, subjects.AlertChange("acme"), []byte("{}"))
		refused(t, js, err, "alerts.changes.acme", "the processor publishing an alert change")
	})

	t.Run("api", func(t *testing.T) {
		js := start("api")
		_, err := js.AccountInfo(ctx)
		require.NoError(t, err, "reads the account for /readyz")
		for _, s := range []string{subjects.ActivityStream, subjects.DeadLetterStream} {
			st, err := js.Stream(ctx, s)
			require.NoError(t, err, "reads %s's state for /v1/pipeline", s)
			require.Positive(t, st.CachedInfo().State.Msgs)
			list := st.ListConsumers(ctx)
			var n int
			for range list.Info() {
				n++
			}
			require.NoError(t, list.Err(), "lists %s's consumers for /readyz", s)
			require.Positive(t, n, "the sink's consumer of %s", s)
		}
		c, cancel := short()
		defer cancel()
		_, err = js.Publish(c, subjects.Activity("acme", "github"), []byte(`{"id":"x1"}`))
		refused(t, js, err, "activities.acme.github", "the API publishing an activity")
		c2, cancel2 := short()
		defer cancel2()
		_, err = js.OrderedConsumer(c2, subjects.ActivityStream, jetstream.OrderedConsumerConfig{})
		refused(t, js, err, "$JS.API.CONSUMER.CREATE.ACTIVITIES", "the API reading ACTIVITIES")
		_, err = js.Conn().Subscribe(subjects.AlertControl, func(*nats.Msg) {})
		if err == nil {
			err = js.Conn().Flush()
			if err == nil {
				err = js.Conn().LastError()
			}
		}
		refused(t, js, err, "control.alerts", "the API answering control.alerts in the evaluator's place")
	})
}

// listsConsumers asserts that js may list the consumers of the activity and
// dead-letter streams, as a split-mode target's /readyz does to judge lag.
func listsConsumers(t *testing.T, js jetstream.JetStream, who string) {
	t.Helper()
	for _, s := range []string{subjects.ActivityStream, subjects.DeadLetterStream} {
		c, cancel := short()
		st, err := js.Stream(c, s)
		require.NoError(t, err)
		list := st.ListConsumers(c)
		for range list.Info() {
		}
		require.NoError(t, list.Err(), "%s lists the consumers of %s", who, s)
		cancel()
	}
}

// sharesGroup asserts that js may join the bus.ShardGroup whose leases
// prefix names (orbit.Group's scoring, sink.Group's sink): hold a member
// and a shard lease and list the members.
func sharesGroup(t *testing.T, js jetstream.JetStream, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ls, err := bus.OpenLeases(ctx, js, 3*time.Second, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	member, err := ls.TryAcquire(ctx, prefix+".member.x", "test")
	require.NoError(t, err, "joins the %s group", prefix)
	shard, err := ls.TryAcquire(ctx, prefix+".shard.3", "test")
	require.NoError(t, err, "takes a %s shard", prefix)
	holders, err := ls.Holders(ctx, prefix+".member")
	require.NoError(t, err, "lists the %s group", prefix)
	require.Equal(t, map[string]string{prefix + ".member.x": "test"}, holders)
	require.NoError(t, shard.Release(ctx))
	require.NoError(t, member.Release(ctx))
}

// takesLease asserts that js may take and release the lease key, as a
// split-mode target with one active instance does at start.
func takesLease(t *testing.T, js jetstream.JetStream, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lease, err := bus.AcquireLease(ctx, js, key, "test", 3*time.Second, slog.New(slog.DiscardHandler))
	require.NoError(t, err, "takes the %s lease", key)
	require.NoError(t, lease.Release(ctx), "releases the %s lease", key)
}
