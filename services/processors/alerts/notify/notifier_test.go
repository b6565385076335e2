package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

// TestMain checks for leaked goroutines after the tests.
func TestMain(m *testing.M) { kittest.Main(m) }

// env is a real embedded NATS JetStream with the streams declared.
type env struct {
	t  *testing.T
	js jetstream.JetStream
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := kittest.Bus(t) // fails the test when NATS cannot start
	return &env{t: t, js: b.JetStream()}
}

// start runs a notifier with quick retries over targets; it is shut down
// when the test ends.
func (e *env) start(targets map[string]notify.Sender, maxAttempts int) *notify.Notifier {
	e.t.Helper()
	n := notify.New(notify.Config{Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		notify.Deps{
			JS:          e.js,
			Targets:     func() map[string]notify.Sender { return targets },
			MaxAttempts: func(string) int { return maxAttempts },
		}, telemetry.Nop())
	require.NoError(e.t, n.Start(ctxT(e.t, 10*time.Second)))
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(e.t, n.Shutdown(ctx))
	})
	return n
}

// publish puts d on its delivery subject, as the evaluator does.
func (e *env) publish(d alerts.Delivery) []byte {
	e.t.Helper()
	data, err := json.Marshal(d)
	require.NoError(e.t, err)
	e.publishRaw(subjects.AlertDelivery(d.Target), d.ID, data)
	return data
}

func (e *env) publishRaw(subject, id string, data []byte) {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, id)
	_, err := e.js.PublishMsg(ctxT(e.t, 10*time.Second), m)
	require.NoError(e.t, err)
}

// waitSettled waits until the consumer holds nothing: every delivery acked.
func (e *env) waitSettled() {
	e.t.Helper()
	require.EventuallyWithT(e.t, func(c *assert.CollectT) {
		cons, err := e.js.Consumer(context.Background(), subjects.AlertStream, subjects.AlertDeliveries)
		if !assert.NoError(c, err) {
			return
		}
		info, err := cons.Info(context.Background())
		if !assert.NoError(c, err) {
			return
		}
		if info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
			c.Errorf("consumer holds deliveries: ack pending %d, pending %d, redelivered %d", info.NumAckPending, info.NumPending, info.NumRedelivered)
		}
	}, 15*time.Second, 20*time.Millisecond)
}

// deadLetter waits for the dead letter of target and returns it.
func (e *env) deadLetter(target string) *jetstream.RawStreamMsg {
	e.t.Helper()
	var msg *jetstream.RawStreamMsg
	require.EventuallyWithT(e.t, func(c *assert.CollectT) {
		st, err := e.js.Stream(context.Background(), subjects.DeadLetterStream)
		if !assert.NoError(c, err) {
			return
		}
		msg, err = st.GetLastMsgForSubject(context.Background(), subjects.DeadLetter(subjects.StageAlerts, target))
		assert.NoError(c, err)
	}, 15*time.Second, 20*time.Millisecond)
	return msg
}

// deadLetters is the number of messages in the dead-letter stream.
func (e *env) deadLetters() uint64 {
	e.t.Helper()
	st, err := e.js.Stream(ctxT(e.t, 10*time.Second), subjects.DeadLetterStream)
	require.NoError(e.t, err)
	info, err := st.Info(ctxT(e.t, 10*time.Second))
	require.NoError(e.t, err)
	return info.State.Msgs
}

// hookServer is a webhook receiver that verifies every request and answers
// with status(attempt), attempt counting from 1.
type hookServer struct {
	*httptest.Server
	attempts atomic.Int32
	mu       sync.Mutex
	received map[string]int // delivery id → successful receipts
	bodies   map[string]alerts.Notification
}

func newHookServer(t *testing.T, status func(attempt int) int) *hookServer {
	h := &hookServer{received: map[string]int{}, bodies: map[string]alerts.Notification{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(testSecret), r.Header, body, time.Minute, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		code := status(int(h.attempts.Add(1)))
		if code/100 == 2 {
			var n alerts.Notification
			if json.Unmarshal(body, &n) != nil {
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
			h.mu.Lock()
			h.received[r.Header.Get(alerts.HeaderDelivery)]++
			h.bodies[r.Header.Get(alerts.HeaderDelivery)] = n
			h.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) receipts(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.received[id]
}

func (h *hookServer) sender(t *testing.T, name string) notify.Sender {
	return newSender(t, name, notify.Target{Type: notify.TypeWebhook, URL: h.URL, Secret: testSecret, Timeout: 5 * time.Second})
}

func TestTargetThatRecoversGetsOneDelivery(t *testing.T) {
	e := newEnv(t)
	hook := newHookServer(t, func(attempt int) int {
		if attempt <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.start(map[string]notify.Sender{"ops": hook.sender(t, "ops")}, 8)
	d := delivery("n1", "ops")
	e.publish(d)

	require.Eventually(t, func() bool { return hook.receipts(d.ID) == 1 }, 15*time.Second, 10*time.Millisecond)
	e.waitSettled()
	require.Equal(t, int32(3), hook.attempts.Load(), "two refusals, then the delivery")
	require.Equal(t, 1, hook.receipts(d.ID))
	hook.mu.Lock()
	require.Equal(t, d.Notification, hook.bodies[d.ID])
	hook.mu.Unlock()
	require.Zero(t, e.deadLetters())
}

func TestTargetThatKeepsFailingIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	hook := newHookServer(t, func(int) int { return http.StatusServiceUnavailable })
	e.start(map[string]notify.Sender{"ops": hook.sender(t, "ops")}, 3)
	d := delivery("n1", "ops")
	data := e.publish(d)

	dl := e.deadLetter("ops")
	e.waitSettled()
	require.Equal(t, int32(3), hook.attempts.Load(), "max_attempts 3")
	require.Equal(t, data, dl.Data, "the delivery, unchanged")
	reason := dl.Header.Get(subjects.HeaderReason)
	require.Contains(t, reason, "target ops")
	require.Contains(t, reason, "3 times")
	require.Contains(t, reason, "HTTP 503")
	require.Equal(t, subjects.StageAlerts, dl.Header.Get(subjects.HeaderStage))
	require.Equal(t, "ops", dl.Header.Get(subjects.HeaderSource))
	require.Equal(t, subjects.AlertDelivery("ops"), dl.Header.Get(subjects.HeaderOrigSubj))
	require.Equal(t, uint64(1), e.deadLetters())
	require.Zero(t, hook.receipts(d.ID))
}

func TestPermanentRefusalIsDeadLetteredAtOnce(t *testing.T) {
	e := newEnv(t)
	hook := newHookServer(t, func(int) int { return http.StatusBadRequest })
	e.start(map[string]notify.Sender{"ops": hook.sender(t, "ops")}, 8)
	e.publish(delivery("n1", "ops"))

	dl := e.deadLetter("ops")
	e.waitSettled()
	require.Equal(t, int32(1), hook.attempts.Load())
	require.Contains(t, dl.Header.Get(subjects.HeaderReason), "HTTP 400")
	require.Contains(t, dl.Header.Get(subjects.HeaderReason), "attempt 1")
}

func TestUnknownTargetAndUndecodableDeliveryAreDeadLettered(t *testing.T) {
	e := newEnv(t)
	hook := newHookServer(t, func(int) int { return http.StatusOK })
	e.start(map[string]notify.Sender{"ops": hook.sender(t, "ops")}, 8)

	e.publish(delivery("n1", "ghost"))
	dl := e.deadLetter("ghost")
	require.Equal(t, "target ghost is not in the rules file", dl.Header.Get(subjects.HeaderReason))

	e.publishRaw(subjects.AlertDelivery("ops"), "garbage-1", []byte("not json"))
	dl = e.deadLetter("ops")
	require.Contains(t, dl.Header.Get(subjects.HeaderReason), "undecodable delivery")
	require.Equal(t, []byte("not json"), dl.Data)

	e.publishRaw(subjects.AlertDelivery("ops"), "garbage-2", []byte(`{"id":"x"}`))
	require.Eventually(t, func() bool { return e.deadLetters() == 3 }, 15*time.Second, 10*time.Millisecond)
	e.waitSettled()
	require.Zero(t, hook.attempts.Load())
}

func TestSlackThroughTheNotifier(t *testing.T) {
	e := newEnv(t)
	srv, got := slackServer(t)
	e.start(map[string]notify.Sender{"chat": newSender(t, "chat", notify.Target{Type: notify.TypeSlack, URL: srv.URL})}, 8)
	d := delivery("n1", "chat")
	e.publish(d)
	var m slackMessage
	select {
	case m = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("no Slack message")
	}
	text := checkBlockKit(t, m)
	require.Contains(t, text, "*42*")
	require.Contains(t, text, "baseline 12.5")
	require.Contains(t, text, d.Notification.URL)
	e.waitSettled()
}

func TestEmailRetriedAfterTemporaryRefusal(t *testing.T) {
	e := newEnv(t)
	srv := kittest.NewSMTPServer(t, func(conn int, cmd string) string {
		if conn == 1 && cmd == "DATA" {
			return "451 4.3.0 try again later"
		}
		return ""
	})
	e.start(map[string]notify.Sender{"mail": newSender(t, "mail", emailTarget(srv.Addr()))}, 8)
	d := delivery("n1", "mail")
	e.publish(d)

	var m kittest.SMTPMessage
	select {
	case m = <-srv.Got:
	case <-time.After(15 * time.Second):
		t.Fatal("no e-mail")
	}
	e.waitSettled()
	require.Equal(t, int32(2), srv.Conns(), "refused once, then delivered")
	require.Empty(t, srv.Got, "delivered once")
	msg, body := readMail(t, m.Data)
	require.Equal(t, "[critical] Activity dropped in acme", msg.Header.Get("Subject"))
	require.Contains(t, msg.Header.Get("To"), "ops@example.com")
	require.Contains(t, body, "42 vs baseline 12.5")
	require.Zero(t, e.deadLetters())
}

// A target that hangs must not hold up the others: the slow target's
// receiver waits for the fast target's delivery, which comes only if the
// two are served concurrently.
func TestSlowTargetDoesNotBlockOthers(t *testing.T) {
	e := newEnv(t)
	fastGot := make(chan struct{})
	slowEntered := make(chan struct{}, 1)
	var sawFast atomic.Bool
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowEntered <- struct{}{}
		select {
		case <-fastGot:
			sawFast.Store(true)
		case <-time.After(4 * time.Second):
		}
	}))
	defer slow.Close()
	fast := newHookServer(t, func(int) int { return http.StatusOK })
	e.start(map[string]notify.Sender{
		"slow": newSender(t, "slow", notify.Target{Type: notify.TypeWebhook, URL: slow.URL, Secret: testSecret, Timeout: 10 * time.Second}),
		"fast": fast.sender(t, "fast"),
	}, 8)

	e.publish(delivery("n1", "slow"))
	select {
	case <-slowEntered:
	case <-time.After(15 * time.Second):
		t.Fatal("slow target never called")
	}
	d := delivery("n1", "fast")
	e.publish(d)
	require.Eventually(t, func() bool { return fast.receipts(d.ID) == 1 }, 15*time.Second, 10*time.Millisecond)
	close(fastGot)
	e.waitSettled()
	require.True(t, sawFast.Load(), "the fast target was served while the slow one hung")
}

// Shutdown under load: sends under way finish and are acked, queued
// deliveries go back to the stream, and the next notifier sends them; none
// is lost and none is sent twice.
func TestShutdownUnderLoadLosesNothing(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	received := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		received[r.Header.Get(alerts.HeaderDelivery)]++
		mu.Unlock()
	}))
	defer srv.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(received)
	}
	targets := map[string]notify.Sender{}
	for _, name := range []string{"a", "b", "c"} {
		targets[name] = newSender(t, name, notify.Target{Type: notify.TypeWebhook, URL: srv.URL, Secret: testSecret})
	}
	var ids []string
	for i := range 60 {
		d := delivery(fmt.Sprintf("n%d", i), []string{"a", "b", "c"}[i%3])
		ids = append(ids, d.ID)
		e.publish(d)
	}

	first := notify.New(notify.Config{Backoff: 50 * time.Millisecond}, notify.Deps{JS: e.js, Targets: func() map[string]notify.Sender { return targets }}, telemetry.Nop())
	require.NoError(t, first.Start(ctxT(t, 10*time.Second)))
	require.Eventually(t, func() bool { return count() >= 6 }, 15*time.Second, time.Millisecond)
	require.NoError(t, first.Shutdown(ctxT(t, 15*time.Second)))
	require.NoError(t, first.Shutdown(ctxT(t, 15*time.Second)), "idempotent")
	stoppedAt := count()
	require.Less(t, stoppedAt, len(ids), "the test needs deliveries left at shutdown")
	time.Sleep(100 * time.Millisecond)
	require.Equal(t, stoppedAt, count(), "nothing is sent after Shutdown returned")

	e.start(targets, 8)
	require.Eventually(t, func() bool { return count() == len(ids) }, 15*time.Second, 10*time.Millisecond)
	e.waitSettled()
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		require.Equal(t, 1, received[id], id)
	}
	require.Zero(t, e.deadLetters())
}

func TestShutdownWithoutStartAndStartTwice(t *testing.T) {
	n := notify.New(notify.Config{}, notify.Deps{}, telemetry.Nop())
	require.NoError(t, n.Shutdown(context.Background()))
	require.NoError(t, n.Shutdown(context.Background()))

	e := newEnv(t)
	n = e.start(nil, 0)
	require.Error(t, n.Start(context.Background()), "already started")
}

func TestTargetsReloadTakeEffect(t *testing.T) {
	e := newEnv(t)
	hook := newHookServer(t, func(int) int { return http.StatusOK })
	var current atomic.Pointer[map[string]notify.Sender]
	empty := map[string]notify.Sender{}
	current.Store(&empty)
	n := notify.New(notify.Config{Backoff: 50 * time.Millisecond}, notify.Deps{JS: e.js,
		Targets: func() map[string]notify.Sender { return *current.Load() }}, telemetry.Nop())
	require.NoError(t, n.Start(ctxT(t, 10*time.Second)))
	defer func() { require.NoError(t, n.Shutdown(ctxT(t, 10*time.Second))) }()

	e.publish(delivery("n1", "ops"))
	e.deadLetter("ops") // not in the rules file yet
	reloaded := map[string]notify.Sender{"ops": hook.sender(t, "ops")}
	current.Store(&reloaded)
	d := delivery("n2", "ops")
	e.publish(d)
	require.Eventually(t, func() bool { return hook.receipts(d.ID) == 1 }, 15*time.Second, 10*time.Millisecond)
	e.waitSettled()
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, notify.DefaultConfig().Validate("alerts.notify"))
	require.NoError(t, notify.Config{}.Validate("alerts.notify"))
	err := notify.Config{Backoff: -time.Second, MaxBackoff: -1}.Validate("alerts.notify")
	require.ErrorContains(t, err, "alerts.notify.backoff:")
	require.ErrorContains(t, err, "alerts.notify.max_backoff:")
	require.ErrorContains(t, notify.Config{Backoff: time.Minute, MaxBackoff: time.Second}.Validate("n"), "n.max_backoff: want 0 (default 10m) or at least backoff 1m0s")
}
