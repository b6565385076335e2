// Package bus connects the services to NATS JetStream: the real nats-server
// embedded in this process (the default) or an external server or cluster,
// with the streams of schemas/subjects declared idempotently at start.
package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Bus is a connection to JetStream, with the embedded server when the mode
// is embedded. Start connects and declares the streams; Shutdown drains the
// connection and stops the server. Safe for concurrent use after Start.
type Bus struct {
	cfg     Config
	dataDir string
	log     *slog.Logger

	mu       sync.Mutex
	srv      *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	token    string
	shutdown bool
}

// New returns a Bus; dataDir is where the embedded server keeps its files
// when Embedded.StoreDir is empty.
func New(cfg Config, dataDir string, set telemetry.Settings) *Bus {
	set = set.Named("bus")
	return &Bus{cfg: cfg, dataDir: dataDir, log: set.Logger}
}

// Start starts the embedded server (if any), connects and creates or
// updates the streams (only looks them up with external.manage_streams
// false). It blocks until the server is ready or ctx ends.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nc != nil {
		return errors.New("bus: already started")
	}
	var err error
	switch b.cfg.Mode {
	case ModeEmbedded:
		err = b.startEmbedded()
	case ModeExternal:
		err = b.connectExternal()
	default:
		err = fmt.Errorf("bus: unknown mode %q", b.cfg.Mode)
	}
	if err != nil {
		b.stopLocked()
		return err
	}
	js, err := jetstream.New(b.nc, jetstream.WithPublishAsyncMaxPending(b.cfg.PublishMaxPending),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		b.stopLocked()
		return fmt.Errorf("bus: jetstream: %w", err)
	}
	b.js = js
	declare := EnsureStreams
	if b.cfg.Mode == ModeExternal && !b.cfg.External.ManageStreams {
		declare = LookupStreams
	}
	clustered := b.cfg.Mode == ModeEmbedded && b.cfg.Embedded.Cluster.Name != ""
	// A cluster answers nothing while it has no leader: a node that starts
	// first waits for a quorum, and servers reached from outside may be
	// electing one (a node just died). Bound each try and try again.
	retry := clustered || b.cfg.Mode == ModeExternal
	for {
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if retry {
			dctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		}
		err := declare(dctx, js, b.cfg.Streams.Limits())
		cancel()
		if err == nil {
			break
		}
		if !retry || ctx.Err() != nil || !clustered && !Unavailable(err) {
			b.stopLocked()
			if clustered {
				return fmt.Errorf("%w (the cluster has no quorum: start the other nodes of embedded.cluster.routes)", err)
			}
			return err
		}
		if clustered {
			b.log.Info("waiting for the cluster's other nodes to declare the streams", "err", err)
		} else {
			b.log.Warn("NATS JetStream does not answer (a cluster electing a leader?); retrying", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	// Only a server of this process's own whose clients are all gone (a
	// single node just started) may give back what its consumers held: a
	// cluster node restarts while the other nodes' clients hold theirs.
	if b.cfg.Mode == ModeEmbedded && !clustered {
		// The server is this process's own and no client has fetched yet:
		// whatever its consumers count as delivered and unacknowledged was
		// held by a process that died (SIGKILL, power loss). Give it back
		// now rather than after AckWait (minutes for the sink).
		for _, c := range redeliverable {
			n, err := ReleaseDeliveries(ctx, js, c[0], c[1])
			if err != nil {
				b.stopLocked()
				return err
			}
			if n > 0 {
				b.log.Info("delivering again at once what a stopped process held", "consumer", c[1], "messages", n)
			}
		}
	}
	return nil
}

// redeliverable are the durable consumers (stream, name) whose every
// delivery may be processed again: the sink's (ClickHouse collapses the
// copies). Not the alert notifier's: a notification acknowledged out of
// order would be sent twice.
var redeliverable = [][2]string{
	{subjects.ActivityStream, subjects.SinkActivities},
	{subjects.DeadLetterStream, subjects.SinkDeadLetters},
}

// ReleaseDeliveries resets a durable consumer to its ack floor when it has
// deliveries awaiting an ack, so they are delivered again at once instead
// of after AckWait, and returns how many there were (0 for a consumer that
// does not exist yet). Messages above the floor that were acknowledged one
// by one are delivered again too: use it only for consumers whose
// processing is idempotent, and only when no live client can hold a
// delivery (a server this process has just started).
func ReleaseDeliveries(ctx context.Context, js jetstream.JetStream, stream, durable string) (int, error) {
	c, err := js.Consumer(ctx, stream, durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("bus: consumer %s on %s: %w", durable, stream, err)
	}
	info := c.CachedInfo()
	if info.NumAckPending == 0 {
		return 0, nil
	}
	if _, err := js.ResetConsumer(ctx, stream, durable); err != nil {
		return 0, fmt.Errorf("bus: give back the %d deliveries of consumer %s on %s: %w", info.NumAckPending, durable, stream, err)
	}
	return info.NumAckPending, nil
}

func (b *Bus) startEmbedded() error {
	ec := b.cfg.Embedded
	dir := ec.StoreDir
	if dir == "" {
		dir = filepath.Join(b.dataDir, "nats")
	}
	syncEvery, always, err := ec.syncInterval()
	if err != nil {
		return fmt.Errorf("bus: embedded.sync_interval: %w", err)
	}
	name := "orbitflow"
	if cl := ec.Cluster; cl.Name != "" {
		name = cl.Node
	}
	opts := &server.Options{
		ServerName:         name,
		JetStream:          true,
		StoreDir:           dir,
		SyncInterval:       syncEvery,
		SyncAlways:         always,
		JetStreamMaxMemory: ec.MaxMemory,
		JetStreamMaxStore:  ec.MaxStore,
		NoSigs:             true,
		MaxPayload:         b.cfg.Streams.MaxMsgSize,
	}
	if ec.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(ec.Listen)
		if err != nil {
			return fmt.Errorf("bus: embedded.listen: %w", err)
		}
		opts.Host = host
		opts.Port, err = strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("bus: embedded.listen port: %w", err)
		}
		b.token = ec.Token
		if b.token == "" {
			b.token = randomToken()
		}
		opts.Authorization = b.token
	}
	if cl := ec.Cluster; cl.Name != "" {
		host, port, err := net.SplitHostPort(cl.Listen)
		if err != nil {
			return fmt.Errorf("bus: embedded.cluster.listen: %w", err)
		}
		opts.Cluster.Name, opts.Cluster.Host = cl.Name, host
		if opts.Cluster.Port, err = strconv.Atoi(port); err != nil {
			return fmt.Errorf("bus: embedded.cluster.listen port: %w", err)
		}
		opts.Cluster.Username, opts.Cluster.Password = "route", b.token
		var routes []string
		for _, r := range cl.Routes {
			routes = append(routes, "nats-route://route:"+url.QueryEscape(b.token)+"@"+r)
		}
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("bus: embedded server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{b.log}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("bus: embedded NATS server not ready after 30s (is %s in use by another process?)", ec.Listen)
	}
	b.srv = srv
	copts := []nats.Option{nats.InProcessServer(srv), nats.Name("orbitflow"), nats.MaxReconnects(-1)}
	if b.token != "" {
		copts = append(copts, nats.Token(b.token))
	}
	nc, err := nats.Connect(srv.ClientURL(), copts...)
	if err != nil {
		return fmt.Errorf("bus: connect in-process: %w", err)
	}
	b.nc = nc
	b.log.Info("embedded NATS JetStream started", "store_dir", dir, "sync_interval", ec.SyncInterval, "listen", ec.Listen)
	return nil
}

func (b *Bus) connectExternal() error {
	ec := b.cfg.External
	opts := []nats.Option{
		nats.Name("orbitflow"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { b.log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if ec.User != "" {
		opts = append(opts, nats.UserInfo(ec.User, ec.Password))
	}
	if ec.Token != "" {
		opts = append(opts, nats.Token(ec.Token))
	}
	if ec.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(ec.CredsFile))
	}
	if ec.TLS.Enabled || ec.TLS.CAFile != "" {
		if ec.TLS.CAFile != "" {
			opts = append(opts, nats.RootCAs(ec.TLS.CAFile))
		}
		if ec.TLS.CertFile != "" {
			opts = append(opts, nats.ClientCert(ec.TLS.CertFile, ec.TLS.KeyFile))
		}
		opts = append(opts, nats.Secure())
	}
	nc, err := Dial(strings.Join(ec.URLs, ","), opts...)
	if err != nil {
		return err
	}
	b.nc = nc
	return nil
}

// Dial connects to a NATS server by URL with the given options and a clear
// error on failure.
func Dial(url string, opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w (is the NATS server running and reachable?)", redact(url), err)
	}
	return nc, nil
}

// JetStream returns the JetStream handle; valid after Start.
func (b *Bus) JetStream() jetstream.JetStream {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.js
}

// Conn returns the NATS connection; valid after Start.
func (b *Bus) Conn() *nats.Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nc
}

// ClientURL returns where other processes reach the embedded server and the
// token they must present; "" when the server does not listen.
func (b *Bus) ClientURL() (url, token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil || b.cfg.Embedded.Listen == "" {
		return "", ""
	}
	return b.srv.ClientURL(), b.token
}

// Shutdown drains the connection and stops the embedded server. Idempotent
// and safe without Start.
func (b *Bus) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shutdown {
		return nil
	}
	b.shutdown = true
	return b.stopLocked()
}

func (b *Bus) stopLocked() error {
	var err error
	if b.nc != nil {
		if !b.nc.IsClosed() {
			closed := make(chan struct{})
			b.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
			if derr := b.nc.Drain(); derr != nil {
				b.nc.Close()
			} else {
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					b.nc.Close()
				}
			}
		}
		b.nc = nil
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		b.srv = nil
	}
	return err
}

// Unavailable tells whether err is JetStream not answering for now: a
// timeout, no responders, or a 503 (a cluster without a leader).
func Unavailable(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.As(err, &api) && api.Code == 503
}

// EnsureStreams creates or updates every stream of schemas/subjects.
// Idempotent: running it against streams that already match changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, l subjects.Limits) error {
	for _, s := range subjects.Streams(l) {
		if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(s)); err != nil {
			return fmt.Errorf("bus: declare stream %s: %w", s.Name, err)
		}
	}
	return nil
}

// LookupStreams checks that every stream of schemas/subjects exists with
// its subjects, without changing anything: what a least-privilege user can
// do (it needs $JS.API.STREAM.INFO.<stream>). The error says how to declare
// a missing stream.
func LookupStreams(ctx context.Context, js jetstream.JetStream, l subjects.Limits) error {
	for _, s := range subjects.Streams(l) {
		st, err := js.Stream(ctx, s.Name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return fmt.Errorf("bus: stream %s does not exist; with nats.external.manage_streams false the streams are declared "+
				"by an admin: run `orbitflow streams apply` with the admin user (deploy/nats/README.md)", s.Name)
		case err != nil:
			return fmt.Errorf("bus: look up stream %s: %w (the user needs permission to publish $JS.API.STREAM.INFO.%s, see deploy/nats/nats.conf)",
				s.Name, err, s.Name)
		}
		if got := st.CachedInfo().Config.Subjects; !slices.Equal(got, s.Subjects) {
			return fmt.Errorf("bus: stream %s has subjects %v, want %v: run `orbitflow streams apply` with the admin user", s.Name, got, s.Subjects)
		}
	}
	return nil
}

// StreamConfig converts a declaration into a JetStream config.
func StreamConfig(s subjects.Stream) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:        s.Name,
		Description: s.Description,
		Subjects:    s.Subjects,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  s.Duplicates,
		MaxAge:      s.MaxAge,
		MaxBytes:    s.MaxBytes,
		MaxMsgs:     s.MaxMsgs,
		MaxMsgSize:  s.MaxMsgSize,
		Replicas:    s.Replicas,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
	}
	if s.Storage == subjects.MemoryStorage {
		cfg.Storage = jetstream.MemoryStorage
	}
	if s.Discard == subjects.DiscardOld {
		cfg.Discard = jetstream.DiscardOld
	}
	return cfg
}

// EnsureConsumer creates or updates a durable pull consumer. Consumers ack
// each message explicitly (AckExplicit). AckAll would be cheaper, but one
// delivery the client never saw (a pull that ended client-side while the
// server still sent) would be acknowledged by the next batch's ack without
// being processed, and two instances sharing a durable would ack each
// other's messages; with explicit acks such a message is redelivered after
// AckWait, and the ack floor means "everything before this is processed".
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, c subjects.Consumer) (jetstream.Consumer, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   c.Description,
		FilterSubject: c.FilterSubject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxAckPending: c.MaxAckPending,
		MaxDeliver:    c.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: declare consumer %s on %s: %w", c.Durable, c.Stream, err)
	}
	return cons, nil
}

func randomToken() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// redact hides passwords in nats://user:pass@host URLs.
func redact(url string) string {
	at := strings.LastIndex(url, "@")
	if at < 0 {
		return url
	}
	scheme := strings.Index(url, "://") + 3
	if scheme < 3 || scheme > at {
		scheme = 0
	}
	return url[:scheme] + "[redacted]" + url[at:]
}

// serverLogger routes the embedded server's log lines to slog.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLogger) Tracef(format string, v ...any)  {}
