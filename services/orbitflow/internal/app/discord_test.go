package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestDiscordDispatchLandsInTheStream runs the bot of `orbitflow run`
// against a local gateway that says HELLO, waits for IDENTIFY and sends
// READY and one MESSAGE_CREATE: the message must be in the activity stream.
func TestDiscordDispatchLandsInTheStream(t *testing.T) {
	identified := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		send := func(v string) { _ = ws.Write(ctx, websocket.MessageText, []byte(v)) }
		send(`{"op":10,"d":{"heartbeat_interval":45000}}`)
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var f struct {
				Op int            `json:"op"`
				D  map[string]any `json:"d"`
			}
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			switch f.Op {
			case 1:
				send(`{"op":11}`)
			case 2:
				identified <- f.D
				send(`{"op":0,"s":1,"t":"READY","d":{"session_id":"s1","resume_gateway_url":"ws://127.0.0.1:1/","user":{"id":"9","username":"bot"}}}`)
				send(`{"op":0,"s":2,"t":"MESSAGE_CREATE","d":{"id":"1189262451238539264","channel_id":"1189262451238539200","guild_id":"1189262451238539100",` +
					`"author":{"id":"1189262451238539001","username":"jane","global_name":"Jane"},"content":"hello","timestamp":"2025-01-02T03:04:05.678000+00:00","type":0,"mentions":[]}}`)
			}
		}
	}))
	defer srv.Close()
	t.Setenv("OF_TEST_DISCORD_TOKEN", "bot-token-for-the-test")

	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.NATS.Embedded.Listen = ""
	cfg.Discord.Community = "acme"
	cfg.Discord.Token = "env:OF_TEST_DISCORD_TOKEN"
	cfg.Discord.GatewayURL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/?v=10&encoding=json"
	require.NoError(t, cfg.Validate())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stack, err := Start(ctx, cfg, Parts{Bus: true, Gateway: true}, telemetry.Nop())
	require.NoError(t, err)
	defer func() { require.NoError(t, stack.Shutdown(context.Background())) }()

	select {
	case d := <-identified:
		require.Equal(t, "bot-token-for-the-test", d["token"], "the token is read from the environment")
	case <-ctx.Done():
		t.Fatal("the bot never identified")
	}
	js := stack.Bus.JetStream()
	st, err := js.Stream(ctx, subjects.ActivityStream)
	require.NoError(t, err)
	var data []byte
	require.Eventually(t, func() bool {
		m, err := st.GetLastMsgForSubject(ctx, subjects.Activity("acme", "discord"))
		if err != nil {
			return false
		}
		data = m.Data
		return true
	}, 30*time.Second, 20*time.Millisecond)
	ev, err := events.Decode(data)
	require.NoError(t, err)
	require.Equal(t, "discord.message.posted", ev.Type)
	require.Equal(t, "jane", ev.Actor.Username)
	require.Equal(t, "2025-01-02T03:04:05.678Z", ev.OccurredAt.Format("2006-01-02T15:04:05.000Z"))
}

func TestDiscordConfigIsValidatedWhenATokenIsSet(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, cfg.Validate(), "no token: the bot is off")
	cfg.Discord.Token = "env:OF_TEST_UNSET_TOKEN"
	err := cfg.Validate()
	require.ErrorContains(t, err, "discord.community: required when discord.token is set")
	require.ErrorContains(t, err, "discord.token: environment variable OF_TEST_UNSET_TOKEN is not set")
}
