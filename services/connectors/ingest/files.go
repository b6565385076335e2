package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
)

// Open opens an input file of any file format: "-" is standard input,
// names ending in .gz are decompressed as they are read.
func Open(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(name, ".gz") {
		return f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// ReadLine returns the next line of br without its line ending, copied. A
// line over limit bytes is cut there (tooLong) and the rest of it skipped,
// so one huge line costs no more memory than limit. err is br's, io.EOF at
// the end.
func ReadLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		frag, e := br.ReadSlice('\n')
		if len(buf)+len(frag) > limit {
			if !tooLong {
				buf = append(buf, frag[:limit-len(buf)]...)
			}
			tooLong = true
		} else if !tooLong {
			buf = append(buf, frag...)
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		err = e
		break
	}
	return bytes.TrimRight(buf, "\r\n"), tooLong, err
}
