package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// DefaultGatewayURL is Discord's gateway, API version 10, JSON encoding.
const DefaultGatewayURL = "wss://gateway.discord.gg/?v=10&encoding=json"

// Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
// GUILD_MEMBERS and MESSAGE_CONTENT are privileged: enable them for the
// bot in the developer portal, or the gateway closes with 4014.
const (
	IntentGuilds                = 1 << 0
	IntentGuildMembers          = 1 << 1
	IntentGuildMessages         = 1 << 9
	IntentGuildMessageReactions = 1 << 10
	IntentMessageContent        = 1 << 15

	// DefaultIntents subscribes to what the mapping reads: threads,
	// member joins, messages and reactions.
	DefaultIntents = IntentGuilds | IntentGuildMembers | IntentGuildMessages | IntentGuildMessageReactions | IntentMessageContent
)

// Gateway opcodes.
const (
	opDispatch       = 0
	opHeartbeat      = 1
	opIdentify       = 2
	opResume         = 6
	opReconnect      = 7
	opInvalidSession = 9
	opHello          = 10
	opHeartbeatAck   = 11
)

// The gateway accepts 120 commands per connection in 60 seconds and closes
// the connection (4008) past that.
const (
	sendLimit  = 120
	sendWindow = 60 * time.Second
)

// Close codes this client sends: 1000 ends the session (Shutdown); 4000,
// like any code but 1000 and 1001, keeps it resumable.
const closeResumable websocket.StatusCode = 4000

// Config is the user configuration of a gateway connection.
type Config struct {
	// Token is the bot token, without the "Bot " prefix. Required.
	Token string `yaml:"token"`
	// GatewayURL is where to connect; default DefaultGatewayURL. Its query
	// (v=10&encoding=json) is also applied to the resume URL Discord gives.
	GatewayURL string `yaml:"gateway_url"`
	// Intents is the gateway intents bit set; default DefaultIntents.
	Intents int `yaml:"intents"`
}

// DefaultConfig returns the configuration with every default set and no token.
func DefaultConfig() Config {
	return Config{GatewayURL: DefaultGatewayURL, Intents: DefaultIntents}
}

// Validate reports every problem of c with its path.
func (c Config) Validate() error {
	var errs []error
	if c.Token == "" {
		errs = append(errs, errors.New("token: required"))
	}
	if u, err := url.Parse(c.GatewayURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		errs = append(errs, fmt.Errorf("gateway_url: want a ws:// or wss:// URL, got %q", c.GatewayURL))
	}
	if c.Intents <= 0 || c.Intents >= 1<<26 {
		errs = append(errs, fmt.Errorf("intents: want a positive gateway intents bit set, got %d", c.Intents))
	}
	return errors.Join(errs...)
}

// Handler receives the normalization of one dispatch (events, or why it is
// ignored, or the unmapped kind) and raw, the whole gateway frame. It must
// return nil only once the result is durable (events published and
// acknowledged by the stream, the ignore counted); an error makes the client
// reconnect and resume so that the dispatch is delivered again. Calls are
// sequential, in sequence order. ctx is cancelled only when Shutdown gives up
// waiting.
type Handler func(ctx context.Context, res source.Result, raw []byte) error

// RejectFunc receives an item that does not normalize (err is a
// *source.InputError) and its raw bytes, to dead-letter it. Same contract as
// Handler: nil only once durable, an error redelivers the item.
type RejectFunc func(ctx context.Context, raw []byte, err error) error

// Session is a gateway session a client can resume.
type Session struct {
	// ID is the session_id of READY.
	ID string
	// ResumeURL is the resume_gateway_url of READY.
	ResumeURL string
	// Seq is the sequence number of the last dispatch the handler
	// accepted; a resume replays what follows it.
	Seq int64
}

// CloseError is a close code the gateway ended the connection with.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	s := "discord gateway closed the connection with code " + strconv.Itoa(e.Code)
	if n := closeCodeNames[e.Code]; n != "" {
		s += " (" + n + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Fatal reports whether reconnecting cannot help: a bad token, shard,
// API version or intents needs the configuration fixed.
func (e *CloseError) Fatal() bool {
	return e.Code == 4004 || e.Code >= 4010 && e.Code <= 4014
}

var closeCodeNames = map[int]string{
	4000: "unknown error", 4001: "unknown opcode", 4002: "decode error", 4003: "not authenticated",
	4004: "authentication failed: check the bot token", 4005: "already authenticated",
	4007: "invalid seq", 4008: "rate limited", 4009: "session timed out",
	4010: "invalid shard", 4011: "sharding required", 4012: "invalid API version",
	4013: "invalid intents", 4014: "disallowed intents: enable the privileged intents in the developer portal",
}

// Option tunes a Client (for developers; users set Config).
type Option func(*options)

type options struct {
	reject            RejectFunc
	session           Session
	backoffMin        time.Duration
	backoffMax        time.Duration
	invalidSessionMin time.Duration
	invalidSessionMax time.Duration
	helloTimeout      time.Duration
	dialTimeout       time.Duration
	writeTimeout      time.Duration
	readLimit         int64
	queue             int
	httpClient        *http.Client
}

// WithReject sets where dispatches that do not normalize go. Without it
// they are logged at error level with their size and the error, and skipped.
func WithReject(f RejectFunc) Option { return func(o *options) { o.reject = f } }

// WithSession starts by resuming s (persisted from Client.Session by an
// earlier process) instead of identifying anew.
func WithSession(s Session) Option { return func(o *options) { o.session = s } }

// WithBackoff sets the reconnect backoff: jittered, doubling from min up to
// max (default 1s to 60s); reset once a connection is READY or RESUMED.
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = min, max }
}

// WithInvalidSessionDelay sets the random wait before identifying again
// after INVALID_SESSION (default 1s to 5s, as Discord asks).
func WithInvalidSessionDelay(min, max time.Duration) Option {
	return func(o *options) { o.invalidSessionMin, o.invalidSessionMax = min, max }
}

// WithHelloTimeout bounds the wait for HELLO after connecting (default 20s).
func WithHelloTimeout(d time.Duration) Option { return func(o *options) { o.helloTimeout = d } }

// WithReadLimit bounds one gateway message in bytes (default 64 MiB: a
// large guild's GUILD_CREATE is megabytes).
func WithReadLimit(n int64) Option { return func(o *options) { o.readLimit = n } }

// WithHTTPClient sets the client of the websocket handshake.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.httpClient = hc } }

// Client keeps one gateway connection: it identifies, heartbeats, resumes
// after drops and hands every dispatch, in order, to the handler. The
// resume sequence advances only when the handler accepted a dispatch, so a
// failed handler or a dropped connection replays instead of losing. Events
// sent while no session exists (after INVALID_SESSION with d=false, or a
// session timeout) are not replayed by Discord: Backfill covers them.
type Client struct {
	cfg    Config
	env    source.Env
	h      Handler
	opts   options
	log    *slog.Logger
	done   chan struct{}
	hctx   context.Context
	hstop  context.CancelFunc
	cancel context.CancelFunc

	mu       sync.Mutex
	started  bool
	stopped  bool
	sess     Session
	conn     *websocket.Conn
	err      error
	stopOnce sync.Once
}

// New returns a client that normalizes dispatches with env and hands them
// to h. Nothing connects before Start.
func New(cfg Config, set telemetry.Settings, env source.Env, h Handler, opts ...Option) *Client {
	o := options{
		backoffMin: time.Second, backoffMax: time.Minute,
		invalidSessionMin: time.Second, invalidSessionMax: 5 * time.Second,
		helloTimeout: 20 * time.Second, dialTimeout: 30 * time.Second, writeTimeout: 10 * time.Second,
		readLimit: 64 << 20, queue: 256,
	}
	for _, opt := range opts {
		opt(&o)
	}
	// Guard the waits: no busy reconnect loop, no empty random range.
	o.backoffMin = max(o.backoffMin, time.Millisecond)
	o.backoffMax = max(o.backoffMax, o.backoffMin)
	o.invalidSessionMin = max(o.invalidSessionMin, 0)
	o.invalidSessionMax = max(o.invalidSessionMax, o.invalidSessionMin)
	if cfg.GatewayURL == "" {
		cfg.GatewayURL = DefaultGatewayURL
	}
	if cfg.Intents == 0 {
		cfg.Intents = DefaultIntents
	}
	hctx, hstop := context.WithCancel(context.Background())
	return &Client{
		cfg: cfg, env: env, h: h, opts: o,
		log:  set.Named("discord").Logger,
		done: make(chan struct{}),
		hctx: hctx, hstop: hstop,
		sess: o.session,
	}
}

// Start validates the configuration and connects in the background, on a
// context of its own (ctx only bounds Start itself). It returns at once;
// Done is closed when the client stops, and Err then says why.
func (c *Client) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.cfg.Validate(); err != nil {
		return fmt.Errorf("discord: config: %w", err)
	}
	if c.h == nil {
		return errors.New("discord: no handler")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.stopped {
		return errors.New("discord: client already started or shut down")
	}
	c.started = true
	loop, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(loop)
	return nil
}

// Shutdown stops reading, lets the handler call in flight finish, closes
// the connection with 1000 (which ends the Discord session) and waits for
// every goroutine. When ctx ends first, the handler's context is cancelled,
// the connection is dropped, and ctx's error is returned. Idempotent; safe
// without Start.
func (c *Client) Shutdown(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopped = true
		started := c.started
		c.mu.Unlock()
		if started {
			c.cancel()
		} else {
			c.hstop()
			close(c.done)
		}
	})
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
	}
	c.hstop()
	c.mu.Lock()
	if c.conn != nil {
		_ = c.conn.CloseNow()
	}
	c.mu.Unlock()
	return ctx.Err()
}

// Done is closed when the client has stopped: after Shutdown, or on a
// fatal close code (see Err).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the error that stopped the client (a *CloseError for a fatal
// close code), or nil. Meaningful once Done is closed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Session returns the current session, to persist for WithSession. Its
// Seq never runs ahead of what the handler accepted. Safe for concurrent use.
func (c *Client) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

func (c *Client) setSession(s Session) {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
}

// run connects until ctx is cancelled or a close code is fatal.
func (c *Client) run(ctx context.Context) {
	defer close(c.done)
	defer c.hstop()
	attempt, resumeFailures := 0, 0
	for {
		resuming := c.Session().ID != ""
		ready, err := c.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		var ce *CloseError
		if errors.As(err, &ce) && ce.Fatal() {
			c.log.Error("discord gateway: stopping", "err", err)
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if ready && !errors.Is(err, errHandler) {
			// A working connection resets the backoff; a handler that
			// keeps failing (the stream is down) does not.
			attempt, resumeFailures = 0, 0
		} else if resuming {
			// A session that fails to resume again and again is gone
			// (or its resume URL is): start a new one.
			if resumeFailures++; resumeFailures >= 3 {
				c.setSession(Session{})
				resumeFailures = 0
			}
		}
		wait := jitter(c.opts.backoffMin, c.opts.backoffMax, attempt)
		attempt++
		if errors.Is(err, errInvalidSession) {
			wait = c.opts.invalidSessionMin + rand.N(c.opts.invalidSessionMax-c.opts.invalidSessionMin+1)
		}
		c.log.Warn("discord gateway: reconnecting", "err", err, "in", wait, "resume", c.Session().ID != "")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// jitter returns a random wait in [d/2, d] with d = min(max, min·2^attempt).
func jitter(min, max time.Duration, attempt int) time.Duration {
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = minDur(d, max)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

var (
	errInvalidSession = errors.New("discord gateway: invalid session, identifying anew")
	errZombie         = errors.New("discord gateway: no heartbeat ACK since the last heartbeat (zombie connection)")
	errHandler        = errors.New("discord gateway: handler failed, resuming to get the dispatch again")
)

// frame is one gateway payload.
type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  string          `json:"t"`
}

// item is what the reader hands the connection loop: a frame and its
// bytes, or the error that ended reading.
type item struct {
	f   frame
	raw []byte
	err error
}

// conn is one connection's state shared by its goroutines.
type conn struct {
	ws      *websocket.Conn
	wmu     sync.Mutex // one writer at a time; guards limit
	limit   *sendLimiter
	timeout time.Duration
	acked   atomic.Bool
	beatNow chan struct{}
	zombie  chan struct{}
	stop    chan struct{}
}

// send writes v, waiting for the send rate limit first. Blocks at most the
// write timeout past the wait; ctx cancels the wait.
func (cn *conn) send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if err := cn.limit.wait(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, cn.timeout)
	defer cancel()
	return cn.ws.Write(wctx, websocket.MessageText, b)
}

// connect runs one connection: HELLO, IDENTIFY or RESUME, then dispatches
// until the connection ends. ready reports whether READY or RESUMED came.
func (c *Client) connect(ctx context.Context) (ready bool, err error) {
	sess := c.Session()
	resume := sess.ID != ""
	u := c.cfg.GatewayURL
	if resume && sess.ResumeURL != "" {
		u = resumeURL(sess.ResumeURL, c.cfg.GatewayURL)
	}
	dctx, cancel := context.WithTimeout(ctx, c.opts.dialTimeout)
	ws, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{
		HTTPClient: c.opts.httpClient,
		HTTPHeader: http.Header{"User-Agent": {userAgent}},
	})
	cancel()
	if err != nil {
		return false, fmt.Errorf("discord gateway: dial: %w", err)
	}
	ws.SetReadLimit(c.opts.readLimit)
	c.mu.Lock()
	c.conn = ws
	c.mu.Unlock()

	cn := &conn{
		ws: ws, limit: newSendLimiter(sendLimit, sendWindow), timeout: c.opts.writeTimeout,
		beatNow: make(chan struct{}, 1), zombie: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	items := make(chan item, c.opts.queue)
	// connCtx outlives a Shutdown's cancellation of ctx until the close
	// handshake is done: a cancelled write would drop the connection
	// before the close frame.
	connCtx, connCancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.read(cn, items)
	}()
	// How the connection ends: with 1000 on shutdown, with a resumable
	// code when the peer is alive, or at once when it is not.
	closeWith := closeResumable
	defer func() {
		switch closeWith {
		case websocket.StatusNormalClosure, closeResumable:
			// Bounded: the library waits at most 5s for each side of the
			// close handshake; Shutdown can cut it with CloseNow.
			_ = ws.Close(closeWith, "")
		default:
			_ = ws.CloseNow()
		}
		close(cn.stop)
		connCancel()
		wg.Wait()
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
	}()
	dropNow := websocket.StatusCode(-1)

	// HELLO comes first.
	hello := time.NewTimer(c.opts.helloTimeout)
	defer hello.Stop()
	var interval time.Duration
	select {
	case <-ctx.Done():
		closeWith = websocket.StatusNormalClosure
		return false, ctx.Err()
	case <-hello.C:
		closeWith = dropNow
		return false, errors.New("discord gateway: no HELLO")
	case it := <-items:
		if it.err != nil {
			closeWith = dropNow
			return false, c.readError(it.err)
		}
		var d struct {
			HeartbeatInterval int64 `json:"heartbeat_interval"`
		}
		if it.f.Op != opHello || json.Unmarshal(it.f.D, &d) != nil || d.HeartbeatInterval <= 0 {
			return false, fmt.Errorf("discord gateway: want HELLO (op 10) with a heartbeat_interval first, got op %d", it.f.Op)
		}
		interval = time.Duration(d.HeartbeatInterval) * time.Millisecond
	}

	cn.acked.Store(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.heartbeat(connCtx, cn, interval)
	}()

	if resume {
		err = cn.send(ctx, map[string]any{"op": opResume, "d": map[string]any{
			"token": c.cfg.Token, "session_id": sess.ID, "seq": sess.Seq,
		}})
	} else {
		c.setSession(Session{})
		err = cn.send(ctx, map[string]any{"op": opIdentify, "d": map[string]any{
			"token": c.cfg.Token, "intents": c.cfg.Intents,
			"properties": map[string]string{"os": runtime.GOOS, "browser": "orbitflow", "device": "orbitflow"},
		}})
	}
	if err != nil {
		closeWith = dropNow
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("discord gateway: send IDENTIFY or RESUME: %w", err)
	}

	for {
		select {
		case <-ctx.Done():
			closeWith = websocket.StatusNormalClosure
			return ready, ctx.Err()
		case <-cn.zombie:
			closeWith = dropNow
			return ready, errZombie
		case it := <-items:
			if it.err != nil {
				closeWith = dropNow
				return ready, c.readError(it.err)
			}
			switch it.f.Op {
			case opDispatch:
				if ctx.Err() != nil {
					closeWith = websocket.StatusNormalClosure
					return ready, ctx.Err()
				}
				r, err := c.dispatch(it)
				ready = ready || r
				if err != nil {
					return ready, err
				}
			case opReconnect:
				return ready, errors.New("discord gateway: RECONNECT requested")
			case opInvalidSession:
				if string(it.f.D) == "true" {
					return ready, errors.New("discord gateway: INVALID_SESSION (resumable)")
				}
				c.setSession(Session{})
				return ready, errInvalidSession
			default:
				c.log.Debug("discord gateway: unexpected opcode", "op", it.f.Op)
			}
		}
	}
}

// dispatch handles one op 0 payload: session bookkeeping, normalization,
// the handler, then the sequence. ready reports READY or RESUMED.
func (c *Client) dispatch(it item) (ready bool, err error) {
	f := it.f
	if f.S == nil {
		return false, fmt.Errorf("discord gateway: dispatch %s without a sequence number", f.T)
	}
	s := *f.S
	switch f.T {
	case "READY":
		var d struct {
			SessionID        string `json:"session_id"`
			ResumeGatewayURL string `json:"resume_gateway_url"`
		}
		if err := json.Unmarshal(f.D, &d); err != nil || d.SessionID == "" {
			return false, errors.New("discord gateway: READY without a session_id")
		}
		if u, err := url.Parse(d.ResumeGatewayURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			d.ResumeGatewayURL = "" // resume on the gateway URL instead
		}
		c.setSession(Session{ID: d.SessionID, ResumeURL: d.ResumeGatewayURL})
		ready = true
		c.log.Info("discord gateway: ready")
	case "RESUMED":
		ready = true
		c.log.Info("discord gateway: resumed", "seq", c.Session().Seq)
	}
	sess := c.Session()
	if s <= sess.Seq {
		return ready, nil // already handled: a replay overlapping what we had
	}
	res, nerr := Normalize(c.env, f.T, f.D)
	var herr error
	switch {
	case nerr == nil:
		herr = c.h(c.hctx, res, it.raw)
	case c.opts.reject != nil:
		herr = c.opts.reject(c.hctx, it.raw, nerr)
	default:
		c.log.Error("discord gateway: dispatch does not normalize; skipped", "t", f.T, "s", s, "bytes", len(it.raw), "err", nerr)
	}
	if herr != nil {
		return ready, fmt.Errorf("%w: %s (seq %d): %w", errHandler, f.T, s, herr)
	}
	c.mu.Lock()
	if c.sess.ID == sess.ID {
		c.sess.Seq = s
	}
	c.mu.Unlock()
	return ready, nil
}

// read reads frames until the connection fails or is closed. It answers
// what must not wait for the handler: HEARTBEAT_ACK and heartbeat requests.
// A full queue blocks it; acks then go unread and the heartbeat declares
// the connection a zombie, which resumes and loses nothing.
func (c *Client) read(cn *conn, items chan<- item) {
	for {
		// Not a cancellable context: cancelling a read closes the
		// connection without the close handshake. Close unblocks it.
		_, b, err := cn.ws.Read(context.Background())
		var it item
		if err != nil {
			it.err = err
		} else if jerr := json.Unmarshal(b, &it.f); jerr != nil {
			it.err = fmt.Errorf("discord gateway: malformed payload: %w", jerr)
		} else {
			it.raw = b
			switch it.f.Op {
			case opHeartbeatAck:
				cn.acked.Store(true)
				continue
			case opHeartbeat:
				select {
				case cn.beatNow <- struct{}{}:
				default:
				}
				continue
			}
		}
		select {
		case items <- it:
		case <-cn.stop:
			return
		}
		if it.err != nil {
			return
		}
	}
}

// heartbeat beats every interval, the first after a random part of it. A
// beat finding the previous one unacknowledged reports a zombie. It runs
// until cn.stop is closed; ctx cancels a write or a rate-limit wait.
func (c *Client) heartbeat(ctx context.Context, cn *conn, interval time.Duration) {
	t := time.NewTimer(rand.N(interval + 1))
	defer t.Stop()
	beat := func() bool {
		var seq any
		if s := c.Session().Seq; s > 0 {
			seq = s
		}
		if err := cn.send(ctx, map[string]any{"op": opHeartbeat, "d": seq}); err != nil {
			select {
			case cn.zombie <- struct{}{}:
			default:
			}
			return false
		}
		return true
	}
	for {
		select {
		case <-cn.stop:
			return
		case <-cn.beatNow:
			if !beat() {
				return
			}
			continue
		case <-t.C:
		}
		if !cn.acked.Swap(false) {
			select {
			case cn.zombie <- struct{}{}:
			default:
			}
			return
		}
		if !beat() {
			return
		}
		t.Reset(interval)
	}
}

// readError classifies the error that ended reading: a close code the
// gateway sent, or a broken connection (resumable).
func (c *Client) readError(err error) error {
	var wce websocket.CloseError
	if errors.As(err, &wce) && wce.Code >= 4000 {
		ce := &CloseError{Code: int(wce.Code), Reason: wce.Reason}
		if ce.Code == 4007 || ce.Code == 4009 {
			c.setSession(Session{}) // the session is gone: identify anew
		}
		return ce
	}
	return fmt.Errorf("discord gateway: connection lost: %w", err)
}

// resumeURL is Discord's resume URL with the gateway URL's query (version
// and encoding) when it has none.
func resumeURL(resume, gateway string) string {
	r, err := url.Parse(resume)
	if err != nil {
		return gateway
	}
	if r.RawQuery == "" {
		if g, err := url.Parse(gateway); err == nil {
			r.RawQuery = g.RawQuery
			if r.Path == "" {
				r.Path = g.Path
			}
		}
	}
	return r.String()
}

// sendLimiter keeps sends under limit per window: it remembers the times
// of the last limit sends. Not safe for concurrent use (conn.wmu guards it).
type sendLimiter struct {
	window time.Duration
	sent   []time.Time // ring buffer
	next   int
	full   bool
}

func newSendLimiter(limit int, window time.Duration) *sendLimiter {
	return &sendLimiter{window: window, sent: make([]time.Time, limit)}
}

// delay returns how long a send at now must wait.
func (l *sendLimiter) delay(now time.Time) time.Duration {
	if !l.full {
		return 0
	}
	return max(0, l.sent[l.next].Add(l.window).Sub(now))
}

// record notes a send at t.
func (l *sendLimiter) record(t time.Time) {
	l.sent[l.next] = t
	l.next = (l.next + 1) % len(l.sent)
	if l.next == 0 {
		l.full = true
	}
}

// wait blocks until a send is allowed (or ctx ends), then records it.
func (l *sendLimiter) wait(ctx context.Context) error {
	for {
		now := time.Now()
		d := l.delay(now)
		if d <= 0 {
			l.record(now)
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

const userAgent = "DiscordBot (https://github.com/orbitflow/orbitflow, 1)"
