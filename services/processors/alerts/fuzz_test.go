package alerts

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeRule: rules come from the API (any bytes). Decoding never
// panics; a rule that decodes and validates survives a JSON round trip
// (what the evaluator answers) unchanged.
func FuzzDecodeRule(f *testing.F) {
	for _, seed := range []string{
		"name: a\ncommunity: c\nmetric: activities\nwindow: 1h\ndetector: {type: seasonal}\n",
		`{"name":"b","community":"c","metric":"gravity","period":"week","detector":{"type":"threshold","op":"<","value":0,"for_periods":2}}`,
		`{"name":"m","community":"c","detector":{"type":"member_silence","levels":[1,2],"min_silence":"14d"}}`,
		"name: s\ncommunity: c\nwindow: 15m\ndetector: {type: source_absence, lookback: 2h}\n",
		"name: x\nwindow: 99999999999999999999h\n", "[", "name: [\n", "\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRule(data)
		if err != nil || r.Validate(nil) != nil {
			return
		}
		b, err := json.Marshal(r)
		require.NoError(t, err)
		back, err := DecodeRule(b)
		require.NoError(t, err, "%s", b)
		require.Equal(t, r, back)
	})
}
