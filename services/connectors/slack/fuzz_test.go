package slack

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzSlack feeds deliveries and header values to Verify and Normalize:
// neither may panic, Normalize's errors are *source.InputError and its
// events are valid (classify checks both).
func FuzzSlack(f *testing.F) {
	var seeds []string
	for _, dir := range []string{"zulip_fixtures", "java_slack_sdk_event_samples"} {
		files, err := filepath.Glob(filepath.Join(realdata, dir, "*.json"))
		require.NoError(f, err)
		require.NotEmpty(f, files, "fixtures missing in %s", dir)
		seeds = append(seeds, files...)
	}
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(b, "1700000000", "v0=00")
		f.Add(fill(f, b), "1700000000", "v0=00")
	}
	f.Add(callbackBody(`{"type":"message","user":"U1","channel":"C1","ts":"1700000100.000200","thread_ts":"1700000000.000100","parent_user_id":"U9","text":"<@U2>"}`),
		"", "")
	f.Add(callbackBody(`{"type":"reaction_added","user":"U1","reaction":"x","item_user":"U2","item":{"type":"message","channel":"C1","ts":"1.2"},"event_ts":"3.4"}`),
		"-1", "v0=")
	secret := []byte("fuzz secret")
	f.Fuzz(func(t *testing.T, body []byte, ts, sig string) {
		h := http.Header{}
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		require.Error(t, Webhook{}.Verify(secret, h, body, time.Unix(1700000000, 0)), "a forged signature passed")
		h = sign(secret, body, 1700000000)
		require.NoError(t, Webhook{}.Verify(secret, h, body, time.Unix(1700000000, 0)))
		res, err := Webhook{}.Normalize(testEnv(), h, body)
		classify(t, res, err)
	})
}
