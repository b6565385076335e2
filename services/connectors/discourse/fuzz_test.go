package discourse

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzDiscourse feeds deliveries and header values to Verify and
// Normalize: neither may panic, Normalize's errors are *source.InputError
// and its events are valid (check asserts both).
func FuzzDiscourse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(realdata, "fedora_discourse2fedmsg_webhooks", "*.json"))
	require.NoError(f, err)
	require.NotEmpty(f, files, "fixtures missing")
	for _, path := range files {
		d := readDelivery(f, filepath.Base(path))
		f.Add([]byte(d.Body), d.Headers[HeaderEvent], d.Headers[HeaderEventType], d.Headers[HeaderInstance], d.Headers[HeaderSignature])
	}
	f.Add([]byte(`{"user":{"id":1,"username":"a","email":"a@b.c"}}`), "user_created", "user", "http://h:8080/forum/", "")
	f.Add([]byte(`{"post":{"id":1,"topic_id":2,"post_number":3,"user_id":4,"created_at":"2020-01-01T00:00:00Z","raw":"@x @y","reply_to_user":{"username":"z"}}}`),
		"post_created", "post", "https://f.example", "sha256=00")
	secret := []byte("fuzz secret")
	f.Fuzz(func(t *testing.T, body []byte, event, typ, instance, sig string) {
		h := http.Header{}
		h.Set(HeaderEvent, event)
		h.Set(HeaderEventType, typ)
		h.Set(HeaderInstance, instance)
		h.Set(HeaderSignature, sig)
		require.Error(t, Webhook{}.Verify(secret, h, body, time.Time{}), "a forged signature passed")
		h.Set(HeaderSignature, sign(secret, body))
		require.NoError(t, Webhook{}.Verify(secret, h, body, time.Time{}))
		normalize(t, h, body)
	})
}
