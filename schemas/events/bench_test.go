package events

import (
	"os"
	"testing"
)

// typicalEvent is testdata/typical.json: a ~650-byte forum reply.
func typicalEvent(b *testing.B) []byte {
	data, err := os.ReadFile("testdata/typical.json")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkDecode(b *testing.B) {
	data := typicalEvent(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeShared(b *testing.B) {
	data := typicalEvent(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeShared(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	ev, err := Decode(typicalEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendEncode(buf[:0], &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkValidate(b *testing.B) {
	ev, err := Decode(typicalEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	r := DefaultRegistry()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.validateAt(&ev, now); err != nil {
			b.Fatal(err)
		}
	}
}
