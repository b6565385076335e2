package discord

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// wait bounds every wait of these tests; none normally takes a second.
const wait = 15 * time.Second

// fakeGateway is a local Discord gateway the test scripts connection by
// connection: it accepts websockets on /gateway and /resume, answers
// heartbeats (unless told not to) and hands each connection to the test.
type fakeGateway struct {
	srv   *httptest.Server
	conns chan *serverConn
	mu    sync.Mutex
	all   []*serverConn
}

// serverConn is one accepted connection, seen from the server.
type serverConn struct {
	path  string
	query string
	ws    *websocket.Conn
	in    chan frame // what the client sent, heartbeats excepted
	noAck atomic.Bool
	// lastBeat is 1 + the seq of the last heartbeat (0: none yet; 1: null).
	lastBeat atomic.Int64
	beats    chan struct{}
	closed   chan struct{}
	// closeCode is the close code the client sent (-1: none).
	closeCode atomic.Int64
}

func newFakeGateway(t *testing.T) *fakeGateway {
	g := &fakeGateway{conns: make(chan *serverConn, 16)}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		ws.SetReadLimit(1 << 20)
		sc := &serverConn{path: r.URL.Path, query: r.URL.RawQuery, ws: ws, in: make(chan frame, 64),
			beats: make(chan struct{}, 64), closed: make(chan struct{})}
		sc.closeCode.Store(-1)
		g.mu.Lock()
		g.all = append(g.all, sc)
		g.mu.Unlock()
		g.conns <- sc
		defer close(sc.closed)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				sc.closeCode.Store(int64(websocket.CloseStatus(err)))
				return
			}
			var f frame
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			if f.Op == opHeartbeat {
				var seq *int64
				_ = json.Unmarshal(f.D, &seq)
				v := int64(1)
				if seq != nil {
					v = *seq + 1
				}
				sc.lastBeat.Store(v)
				select {
				case sc.beats <- struct{}{}:
				default:
				}
				if !sc.noAck.Load() {
					_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"op":11}`))
				}
				continue
			}
			sc.in <- f
		}
	}))
	t.Cleanup(func() {
		g.mu.Lock()
		for _, sc := range g.all {
			_ = sc.ws.CloseNow()
			<-sc.closed
		}
		g.mu.Unlock()
		g.srv.Close()
	})
	return g
}

// url is the gateway URL the client is configured with.
func (g *fakeGateway) url() string {
	return "ws" + strings.TrimPrefix(g.srv.URL, "http") + "/gateway?v=10&encoding=json"
}

// resumeURL is what READY announces (no query, as Discord sends it).
func (g *fakeGateway) resumeURL() string {
	return "ws" + strings.TrimPrefix(g.srv.URL, "http") + "/resume"
}

// next waits for the client's next connection and says HELLO on it.
func (g *fakeGateway) next(t *testing.T, heartbeat time.Duration) *serverConn {
	t.Helper()
	select {
	case sc := <-g.conns:
		sc.send(t, map[string]any{"op": opHello, "d": map[string]any{"heartbeat_interval": heartbeat.Milliseconds()}})
		return sc
	case <-time.After(wait):
		t.Fatal("the client did not connect")
		return nil
	}
}

func (sc *serverConn) send(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, sc.ws.Write(context.Background(), websocket.MessageText, b))
}

func (sc *serverConn) dispatch(t *testing.T, s int64, name string, d []byte) {
	t.Helper()
	sc.send(t, map[string]any{"op": opDispatch, "s": s, "t": name, "d": json.RawMessage(d)})
}

// tryDispatch sends a dispatch the client may no longer read.
func (sc *serverConn) tryDispatch(s int64, name string, d []byte) {
	b, _ := json.Marshal(map[string]any{"op": opDispatch, "s": s, "t": name, "d": json.RawMessage(d)})
	_ = sc.ws.Write(context.Background(), websocket.MessageText, b)
}

// expect waits for the client's next command and checks its opcode.
func (sc *serverConn) expect(t *testing.T, op int) frame {
	t.Helper()
	select {
	case f := <-sc.in:
		require.Equal(t, op, f.Op, "client sent op %d: %s", f.Op, f.D)
		return f
	case <-sc.closed:
		t.Fatalf("the connection closed before op %d", op)
	case <-time.After(wait):
		t.Fatalf("no op %d from the client", op)
	}
	return frame{}
}

// expectResume waits for RESUME and checks the session and seq.
func (sc *serverConn) expectResume(t *testing.T, session string, seq int64) {
	t.Helper()
	require.Equal(t, "/resume", sc.path, "RESUME goes to resume_gateway_url")
	require.Equal(t, "v=10&encoding=json", sc.query, "the resume URL gets the gateway URL's query")
	f := sc.expect(t, opResume)
	var d struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	require.NoError(t, json.Unmarshal(f.D, &d))
	require.Equal(t, "test-token", d.Token)
	require.Equal(t, session, d.SessionID)
	require.Equal(t, seq, d.Seq, "RESUME carries the last seq the handler accepted")
}

// expectIdentify waits for IDENTIFY and checks it.
func (sc *serverConn) expectIdentify(t *testing.T) {
	t.Helper()
	require.Equal(t, "/gateway", sc.path, "IDENTIFY goes to the gateway URL")
	f := sc.expect(t, opIdentify)
	var d struct {
		Token      string            `json:"token"`
		Intents    int               `json:"intents"`
		Properties map[string]string `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(f.D, &d))
	require.Equal(t, "test-token", d.Token)
	require.Equal(t, 1|2|512|1024|32768, d.Intents, "GUILDS | GUILD_MEMBERS | GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS | MESSAGE_CONTENT")
	require.NotEmpty(t, d.Properties["os"])
	require.Equal(t, "orbitflow", d.Properties["browser"])
	require.Equal(t, "orbitflow", d.Properties["device"])
}

// ready sends READY (the recorded payload, with a usable session and
// resume URL) as dispatch s.
func (g *fakeGateway) ready(t *testing.T, sc *serverConn, s int64, session string) {
	t.Helper()
	sc.dispatch(t, s, "READY", readyD(t, session, g.resumeURL()))
}

func readyD(t *testing.T, session, resumeURL string) []byte {
	t.Helper()
	return patch(t, "ready_1", map[string]any{"session_id": session, "resume_gateway_url": resumeURL})
}

// waitClosed waits until the client closed sc and returns the close code
// it sent (-1 for none).
func (sc *serverConn) waitClosed(t *testing.T) int64 {
	t.Helper()
	select {
	case <-sc.closed:
		return sc.closeCode.Load()
	case <-time.After(wait):
		t.Fatal("the client kept the connection open")
		return 0
	}
}

// delivery is one handler call.
type delivery struct {
	seq  int64
	name string
	res  source.Result
}

// recorder is a handler that records what it accepted; fail, when set,
// may refuse a dispatch (the client must deliver it again).
type recorder struct {
	mu       sync.Mutex
	accepted []delivery
	calls    map[int64]int
	ch       chan delivery
	fail     func(seq int64, calls int) error
}

func newRecorder() *recorder {
	return &recorder{calls: map[int64]int{}, ch: make(chan delivery, 256)}
}

func (r *recorder) handle(_ context.Context, res source.Result, raw []byte) error {
	var f frame
	if err := json.Unmarshal(raw, &f); err != nil || f.S == nil {
		return errors.New("raw is not the gateway frame")
	}
	r.mu.Lock()
	r.calls[*f.S]++
	n := r.calls[*f.S]
	r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(*f.S, n); err != nil {
			return err
		}
	}
	d := delivery{seq: *f.S, name: f.T, res: res}
	r.mu.Lock()
	r.accepted = append(r.accepted, d)
	r.mu.Unlock()
	r.ch <- d
	return nil
}

// waitSeq waits until the handler accepted dispatch seq.
func (r *recorder) waitSeq(t *testing.T, seq int64) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case d := <-r.ch:
			if d.seq == seq {
				return
			}
		case <-deadline:
			t.Fatalf("the handler never accepted seq %d", seq)
		}
	}
}

// seqs lists the accepted sequence numbers in order.
func (r *recorder) seqs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []int64
	for _, d := range r.accepted {
		s = append(s, d.seq)
	}
	return s
}

func upTo(n int64) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i) + 1
	}
	return s
}

func startClient(t *testing.T, g *fakeGateway, h Handler, opts ...Option) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Token = "test-token"
	cfg.GatewayURL = g.url()
	opts = append([]Option{
		WithBackoff(time.Millisecond, 20*time.Millisecond),
		WithInvalidSessionDelay(time.Millisecond, 5*time.Millisecond),
		WithHelloTimeout(wait),
	}, opts...)
	set := telemetry.Nop()
	if os.Getenv("DISCORD_TEST_LOG") != "" {
		set.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c := New(cfg, set, testEnv(), h, opts...)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, c.Shutdown(ctx))
	})
	return c
}

// TestGatewayResumesAfterDropAndDeliversEveryDispatchOnce plays the 40
// recorded dispatches, drops the connection mid-stream without a close
// frame, and checks the client resumes on the resume URL with the session
// and the last accepted seq: the handler sees every dispatch exactly once,
// in order.
func TestGatewayResumesAfterDropAndDeliversEveryDispatchOnce(t *testing.T) {
	payloads := loadPayloads(t)
	require.Equal(t, "READY", payloads[0].Event)
	g := newFakeGateway(t)
	rec := newRecorder()
	c := startClient(t, g, rec.handle)

	const drop = 17 // dispatches sent before the connection drops
	sc := g.next(t, 10*time.Second)
	sc.expectIdentify(t)
	g.ready(t, sc, 1, "sess-1")
	for i := 1; i < drop; i++ {
		sc.dispatch(t, int64(i+1), payloads[i].Event, payloads[i].D)
	}
	rec.waitSeq(t, drop)
	// The seq advances once the handler has returned.
	require.Eventually(t, func() bool { return c.Session().Seq == drop }, wait, time.Millisecond)
	require.Equal(t, Session{ID: "sess-1", ResumeURL: g.resumeURL(), Seq: drop}, c.Session())

	// A heartbeat the server asks for carries the last accepted seq.
	sc.send(t, map[string]any{"op": opHeartbeat})
	require.Eventually(t, func() bool { return sc.lastBeat.Load() == drop+1 }, wait, time.Millisecond)

	require.NoError(t, sc.ws.CloseNow()) // no close frame: a network drop

	sc = g.next(t, 10*time.Second)
	sc.expectResume(t, "sess-1", drop)
	for i := drop; i < len(payloads); i++ {
		sc.dispatch(t, int64(i+1), payloads[i].Event, payloads[i].D)
	}
	resumed := int64(len(payloads) + 1)
	sc.dispatch(t, resumed, "RESUMED", []byte(`{"_trace":["x"]}`))
	rec.waitSeq(t, resumed)

	require.Equal(t, upTo(resumed), rec.seqs(), "every dispatch once, in order")
	var nEvents int
	for i, d := range rec.accepted[:len(payloads)] {
		require.Equal(t, payloads[i].Event, d.name)
		want, err := Normalize(testEnv(), payloads[i].Event, payloads[i].D)
		require.NoError(t, err)
		if payloads[i].Event == "READY" {
			want, _ = Normalize(testEnv(), "READY", readyD(t, "sess-1", g.resumeURL()))
		}
		require.Equal(t, want, d.res, payloads[i].ID)
		nEvents += len(d.res.Events)
	}
	require.Equal(t, 8, nEvents, "3 messages, 3 reactions, 2 threads")
	require.Equal(t, "discord RESUMED: gateway session resumed", rec.accepted[resumed-1].res.Ignored)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, c.Shutdown(ctx))
	require.EqualValues(t, websocket.StatusNormalClosure, sc.waitClosed(t), "shutdown closes with 1000")
	require.NoError(t, c.Err())
}

// TestGatewayHandlerErrorRedeliversAfterResume: a handler error leaves the
// seq where it was; the client closes with a resumable code and resumes,
// and the refused dispatch comes again instead of being lost.
func TestGatewayHandlerErrorRedeliversAfterResume(t *testing.T) {
	payloads := loadPayloads(t)
	g := newFakeGateway(t)
	rec := newRecorder()
	rec.fail = func(seq int64, calls int) error {
		if seq == 3 && calls == 1 {
			return errors.New("stream unavailable")
		}
		return nil
	}
	c := startClient(t, g, rec.handle)

	sc := g.next(t, 10*time.Second)
	sc.expectIdentify(t)
	g.ready(t, sc, 1, "sess-h")
	for s := int64(2); s <= 5; s++ {
		// MESSAGE_CREATE ×3, MESSAGE_UPDATE; the client may have dropped
		// the connection before the last ones.
		sc.tryDispatch(s, payloads[s-1].Event, payloads[s-1].D)
	}
	code := sc.waitClosed(t)
	require.NotEqual(t, int64(websocket.StatusNormalClosure), code, "a close with 1000 would end the session")
	require.NotEqual(t, int64(websocket.StatusGoingAway), code, "a close with 1001 would end the session")

	sc = g.next(t, 10*time.Second)
	sc.expectResume(t, "sess-h", 2)
	for s := int64(3); s <= 5; s++ {
		sc.dispatch(t, s, payloads[s-1].Event, payloads[s-1].D)
	}
	sc.dispatch(t, 6, "RESUMED", []byte(`{}`))
	rec.waitSeq(t, 6)
	require.Equal(t, upTo(6), rec.seqs())
	rec.mu.Lock()
	require.Equal(t, 2, rec.calls[3], "refused once, accepted on redelivery")
	rec.mu.Unlock()
	require.Eventually(t, func() bool { return c.Session().Seq == 6 }, wait, time.Millisecond)
}

// TestGatewayControlOpcodes: RECONNECT and a resumable INVALID_SESSION
// resume; INVALID_SESSION false identifies anew on the gateway URL.
func TestGatewayControlOpcodes(t *testing.T) {
	cases := []struct {
		name     string
		op       map[string]any
		identify bool
	}{
		{"RECONNECT resumes", map[string]any{"op": opReconnect, "d": nil}, false},
		{"INVALID_SESSION true resumes", map[string]any{"op": opInvalidSession, "d": true}, false},
		{"INVALID_SESSION false identifies", map[string]any{"op": opInvalidSession, "d": false}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payloads := loadPayloads(t)
			g := newFakeGateway(t)
			rec := newRecorder()
			c := startClient(t, g, rec.handle)

			sc := g.next(t, 10*time.Second)
			sc.expectIdentify(t)
			g.ready(t, sc, 1, "sess-c")
			sc.dispatch(t, 2, payloads[1].Event, payloads[1].D)
			rec.waitSeq(t, 2)
			sc.send(t, tc.op)

			sc = g.next(t, 10*time.Second)
			if tc.identify {
				sc.expectIdentify(t)
				g.ready(t, sc, 1, "sess-new")
				rec.waitSeq(t, 1)
				require.Eventually(t, func() bool { return c.Session() == Session{ID: "sess-new", ResumeURL: g.resumeURL(), Seq: 1} },
					wait, time.Millisecond, "a new session counts from 1")
				require.Equal(t, []int64{1, 2, 1}, rec.seqs())
				return
			}
			sc.expectResume(t, "sess-c", 2)
			sc.dispatch(t, 3, payloads[2].Event, payloads[2].D)
			rec.waitSeq(t, 3)
			require.Equal(t, upTo(3), rec.seqs())
		})
	}
}

// TestGatewayZombieConnectionResumes: with heartbeats no longer
// acknowledged the connection is a zombie: the client drops it and resumes.
func TestGatewayZombieConnectionResumes(t *testing.T) {
	payloads := loadPayloads(t)
	g := newFakeGateway(t)
	rec := newRecorder()
	startClient(t, g, rec.handle)

	sc := g.next(t, 100*time.Millisecond)
	sc.expectIdentify(t)
	g.ready(t, sc, 1, "sess-z")
	sc.dispatch(t, 2, payloads[1].Event, payloads[1].D)
	rec.waitSeq(t, 2)
	sc.noAck.Store(true)

	sc = g.next(t, 10*time.Second)
	sc.expectResume(t, "sess-z", 2)
	sc.dispatch(t, 3, "RESUMED", []byte(`{}`))
	rec.waitSeq(t, 3)
	require.Equal(t, upTo(3), rec.seqs())
}

// TestGatewayCloseCodes: fatal codes stop the client with an error naming
// the code; the others reconnect (4009 with a new session).
func TestGatewayCloseCodes(t *testing.T) {
	cases := []struct {
		code   websocket.StatusCode
		fatal  bool
		resume bool
	}{
		{4004, true, false},
		{4010, true, false},
		{4011, true, false},
		{4012, true, false},
		{4013, true, false},
		{4014, true, false},
		{4000, false, true},
		{4008, false, true},
		{4007, false, false},
		{4009, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.code.String(), func(t *testing.T) {
			payloads := loadPayloads(t)
			g := newFakeGateway(t)
			rec := newRecorder()
			c := startClient(t, g, rec.handle)

			sc := g.next(t, 10*time.Second)
			sc.expectIdentify(t)
			g.ready(t, sc, 1, "sess-x")
			sc.dispatch(t, 2, payloads[1].Event, payloads[1].D)
			rec.waitSeq(t, 2)
			require.NoError(t, sc.ws.Close(tc.code, "closed by the test"))

			if tc.fatal {
				select {
				case <-c.Done():
				case <-time.After(wait):
					t.Fatal("the client did not stop")
				}
				var ce *CloseError
				require.True(t, errors.As(c.Err(), &ce), "%v", c.Err())
				require.Equal(t, int(tc.code), ce.Code)
				require.Contains(t, c.Err().Error(), "code "+itoa(int(tc.code)))
				return
			}
			sc = g.next(t, 10*time.Second)
			if tc.resume {
				sc.expectResume(t, "sess-x", 2)
				return
			}
			sc.expectIdentify(t)
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestGatewayRejectsMalformedDispatchesToTheRejectFunc(t *testing.T) {
	g := newFakeGateway(t)
	rec := newRecorder()
	var rejected atomic.Value
	startClient(t, g, rec.handle, WithReject(func(_ context.Context, raw []byte, err error) error {
		rejected.Store(string(raw) + " | " + err.Error())
		return nil
	}))
	sc := g.next(t, 10*time.Second)
	sc.expectIdentify(t)
	g.ready(t, sc, 1, "sess-r")
	sc.dispatch(t, 2, "MESSAGE_CREATE", []byte(`{"id":"nope"}`))
	payloads := loadPayloads(t)
	sc.dispatch(t, 3, payloads[1].Event, payloads[1].D)
	rec.waitSeq(t, 3)
	require.Equal(t, []int64{1, 3}, rec.seqs())
	require.Contains(t, rejected.Load(), `"s":2`)
	require.Contains(t, rejected.Load(), "id: want a snowflake id")
}

func TestSendLimiter(t *testing.T) {
	l := newSendLimiter(3, time.Minute)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		require.Zero(t, l.delay(t0.Add(time.Duration(i)*time.Second)))
		l.record(t0.Add(time.Duration(i) * time.Second))
	}
	require.Equal(t, 57*time.Second, l.delay(t0.Add(3*time.Second)), "the fourth send waits for the first to leave the window")
	require.Zero(t, l.delay(t0.Add(time.Minute)))
	l.record(t0.Add(time.Minute))
	require.Equal(t, time.Second, l.delay(t0.Add(time.Minute)), "then for the second")

	l = newSendLimiter(1, time.Hour)
	l.record(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.wait(ctx), context.Canceled, "a wait is cut by ctx")
}

func TestConfigValidate(t *testing.T) {
	err := Config{GatewayURL: "http://x", Intents: -1}.Validate()
	require.ErrorContains(t, err, "token: required")
	require.ErrorContains(t, err, "gateway_url: want a ws:// or wss:// URL")
	require.ErrorContains(t, err, "intents: want a positive")
	cfg := DefaultConfig()
	cfg.Token = "t"
	require.NoError(t, cfg.Validate())
	require.Equal(t, "wss://gateway.discord.gg/?v=10&encoding=json", cfg.GatewayURL)
}

func TestShutdownWithoutStartAndTwice(t *testing.T) {
	c := New(Config{Token: "t"}, telemetry.Settings{}, testEnv(), func(context.Context, source.Result, []byte) error { return nil })
	require.NoError(t, c.Shutdown(context.Background()))
	require.NoError(t, c.Shutdown(context.Background()))
	require.Error(t, c.Start(context.Background()), "no start after shutdown")
	<-c.Done()
}

func TestResumeURL(t *testing.T) {
	require.Equal(t, "wss://gateway-us-east1-b.discord.gg/?v=10&encoding=json",
		resumeURL("wss://gateway-us-east1-b.discord.gg", DefaultGatewayURL))
	require.Equal(t, "wss://r.example/?v=9", resumeURL("wss://r.example/?v=9", DefaultGatewayURL))
}

// TestShutdownLetsTheHandlerInFlightFinish: Shutdown stops reading but
// waits for the handler call in flight, whose dispatch then counts.
func TestShutdownLetsTheHandlerInFlightFinish(t *testing.T) {
	payloads := loadPayloads(t)
	g := newFakeGateway(t)
	rec := newRecorder()
	entered, release := make(chan struct{}), make(chan struct{})
	rec.fail = func(seq int64, _ int) error {
		if seq == 2 {
			close(entered)
			<-release
		}
		return nil
	}
	c := startClient(t, g, rec.handle)
	sc := g.next(t, 10*time.Second)
	sc.expectIdentify(t)
	g.ready(t, sc, 1, "sess-s")
	sc.dispatch(t, 2, payloads[1].Event, payloads[1].D)
	sc.dispatch(t, 3, payloads[2].Event, payloads[2].D)
	<-entered

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		stopped <- c.Shutdown(ctx)
	}()
	select {
	case <-c.Done():
		t.Fatal("stopped with a handler call in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-stopped)
	require.Equal(t, []int64{1, 2}, rec.seqs(), "the call in flight finished; nothing after it started")
	require.Equal(t, int64(2), c.Session().Seq)
	require.EqualValues(t, websocket.StatusNormalClosure, sc.waitClosed(t))
}

// TestShutdownDeadlineCancelsAStuckHandler: when Shutdown's ctx ends
// first, the handler's ctx is cancelled and Shutdown says so.
func TestShutdownDeadlineCancelsAStuckHandler(t *testing.T) {
	payloads := loadPayloads(t)
	g := newFakeGateway(t)
	entered := make(chan struct{})
	var handlerErr atomic.Value
	c := startClient(t, g, func(ctx context.Context, res source.Result, raw []byte) error {
		if len(res.Events) == 0 {
			return nil
		}
		close(entered)
		<-ctx.Done()
		handlerErr.Store(ctx.Err())
		return ctx.Err()
	})
	sc := g.next(t, 10*time.Second)
	sc.expectIdentify(t)
	g.ready(t, sc, 1, "sess-d")
	sc.dispatch(t, 2, payloads[1].Event, payloads[1].D)
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Shutdown(ctx), context.DeadlineExceeded)
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("the client did not stop")
	}
	require.Equal(t, context.Canceled, handlerErr.Load())
	require.Equal(t, int64(1), c.Session().Seq, "the refused dispatch is not counted")
}
