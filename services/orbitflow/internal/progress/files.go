package progress

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Files measures how far readers have gone through a list of input files
// that other code opens by name (the connectors' readers): the bytes of
// the files already passed plus the read offset of the current one, as
// the kernel reports it in /proc/self/fdinfo (Linux; elsewhere a file
// counts only once it is passed). Offsets of compressed files are of the
// compressed bytes, as are the sizes, so the fraction is right for .gz too.
type Files struct {
	names []string
	abs   []string
	sizes []int64
	total int64
	cur   int   // index of the file being read
	fd    int   // its descriptor when found, else -1
	done  int64 // the most Done has reported: a closed file reads as 0
}

// NewFiles stats the files; "-" (standard input) and unreadable names
// count as size 0. Total is 0 when no size is known.
func NewFiles(names []string) *Files {
	f := &Files{names: names, fd: -1}
	for _, n := range names {
		var size int64
		abs := n
		if n != "-" {
			if fi, err := os.Stat(n); err == nil && fi.Mode().IsRegular() {
				size = fi.Size()
			}
			if a, err := filepath.Abs(n); err == nil {
				abs = a
			}
		}
		f.abs = append(f.abs, abs)
		f.sizes = append(f.sizes, size)
		f.total += size
	}
	return f
}

// Total is the sum of the files' sizes in bytes.
func (f *Files) Total() int64 { return f.total }

// At records that the reader is at pos, a record position naming the file
// ("events.jsonl:42" or "events.jsonl"): files before it are passed.
func (f *Files) At(pos string) {
	for i := f.cur; i < len(f.names); i++ {
		n := f.names[i]
		if pos == n || strings.HasPrefix(pos, n+":") {
			if i != f.cur {
				f.cur, f.fd = i, -1
			}
			return
		}
	}
}

// Done is the bytes read so far: the sizes of the passed files and the
// offset of the current one. It never goes back (once the reader closed
// the file its offset cannot be read).
func (f *Files) Done() int64 {
	f.done = max(f.done, f.measure())
	return f.done
}

func (f *Files) measure() int64 {
	var done int64
	for i := 0; i < f.cur && i < len(f.sizes); i++ {
		done += f.sizes[i]
	}
	if f.cur < len(f.names) && f.sizes[f.cur] > 0 {
		done += min(f.offset(), f.sizes[f.cur])
	}
	return done
}

// offset finds the current file among the process's descriptors (kept
// while it names the file) and reads its position; 0 when it cannot be told.
func (f *Files) offset() int64 {
	if f.fd >= 0 {
		// The descriptor may have been closed and reused for another file.
		if target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(f.fd)); err != nil || target != f.abs[f.cur] {
			f.fd = -1
		}
	}
	if f.fd < 0 {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return 0
		}
		for _, e := range ents {
			if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == f.abs[f.cur] {
				f.fd, _ = strconv.Atoi(e.Name())
				break
			}
		}
		if f.fd < 0 {
			return 0
		}
	}
	file, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(f.fd))
	if err != nil {
		f.fd = -1
		return 0
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "pos:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
