// Package chdb embeds the ClickHouse engine (chDB's libchdb.so) in this
// process. The library is loaded at run time with purego, so binaries build
// and run without it until the embedded engine is asked for; a missing
// library is a clean error naming the command that fetches it.
//
// Traps this package handles (see shared EMBEDDED.md):
//   - the engine's signal handlers are disabled before the first connect, so
//     a Go nil dereference still panics instead of hanging;
//   - insert data never travels inline in a query (it ends at the first blank
//     line there): Insert uses the stream-insert functions;
//   - one storage path per process: Open refuses a second path;
//   - large results stream (QueryStream) instead of buffering.
package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Version is the chDB package the project pins (scripts/fetch-chdb.sh).
const Version = "26.7.3-stable.1"

// DefaultLibraryPath is where scripts/fetch-chdb.sh puts the library:
// $ORBITFLOW_CHDB_LIB, else $ORBITFLOW_CHDB_DIR/libchdb.so, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/orbitflow/chdb/<Version>/libchdb.so.
func DefaultLibraryPath() string {
	if p := os.Getenv("ORBITFLOW_CHDB_LIB"); p != "" {
		return p
	}
	if d := os.Getenv("ORBITFLOW_CHDB_DIR"); d != "" {
		return filepath.Join(d, "libchdb.so")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "orbitflow", "chdb", Version, "libchdb.so")
}

// api holds the library's functions. Handles are opaque pointers kept as
// uintptr values that Go's GC never follows.
type api struct {
	setSignalHandlers func(enabled int32)
	version           func() *byte
	connect           func(argc int32, argv **byte) *uintptr
	closeConn         func(conn *uintptr)
	queryN            func(conn uintptr, q *byte, ql uintptr, f *byte, fl uintptr) uintptr
	queryParamsN      func(conn uintptr, q *byte, ql uintptr, f *byte, fl uintptr, names **byte, nameLens *uintptr, values **byte, valueLens *uintptr, n uintptr) uintptr
	streamQueryN      func(conn uintptr, q *byte, ql uintptr, f *byte, fl uintptr) uintptr
	streamQueryParamN func(conn uintptr, q *byte, ql uintptr, f *byte, fl uintptr, names **byte, nameLens *uintptr, values **byte, valueLens *uintptr, n uintptr) uintptr
	streamFetch       func(conn uintptr, res uintptr) uintptr
	streamCancel      func(conn uintptr, res uintptr)
	destroyResult     func(res uintptr)
	resultBuffer      func(res uintptr) *byte
	resultLength      func(res uintptr) uintptr
	resultError       func(res uintptr) *byte
	resultRowsWritten func(res uintptr) uint64
	resultRowsRead    func(res uintptr) uint64
	resultBytesRead   func(res uintptr) uint64
	insertN           func(conn uintptr, q *byte, ql uintptr, f *byte, fl uintptr) uintptr
	insertParamsN     func(conn uintptr, q *byte, ql uintptr, f *byte, fl uintptr, names **byte, nameLens *uintptr, values **byte, valueLens *uintptr, n uintptr) uintptr
	insertAppend      func(s uintptr, data *byte, n uintptr) int32
	insertDone        func(s uintptr) uintptr
	insertCancel      func(s uintptr)
	insertError       func(s uintptr) *byte
	insertDestroy     func(s uintptr)
	classify          func(conn uintptr, q *byte, ql uintptr, db *byte, dbl uintptr, out *analysis) int32
}

// analysis mirrors chdb_query_analysis_v1.
type analysis struct {
	structSize     uint32
	statementCount uint32
	flags          uint32
	queryClass     uint32
}

var (
	loadOnce sync.Once
	loaded   *api
	loadErr  error
)

// Load loads the library at path (DefaultLibraryPath when empty) once per
// process and disables the engine's signal handlers. Later calls return the
// first outcome.
func Load(path string) error {
	loadOnce.Do(func() {
		if path == "" {
			path = DefaultLibraryPath()
		}
		if _, err := os.Stat(path); err != nil {
			loadErr = fmt.Errorf("chdb: the embedded ClickHouse engine is not installed (%s: %w); fetch it with `make chdb` or `scripts/fetch-chdb.sh`, or use clickhouse.mode: external", path, errors.Unwrap(err))
			return
		}
		h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			loadErr = fmt.Errorf("chdb: load %s: %w (re-fetch it with scripts/fetch-chdb.sh)", path, err)
			return
		}
		a := &api{}
		for name, fn := range map[string]any{
			"chdb_set_signal_handlers_enabled": &a.setSignalHandlers,
			"chdb_version":                     &a.version,
			"chdb_connect":                     &a.connect,
			"chdb_close_conn":                  &a.closeConn,
			"chdb_query_n":                     &a.queryN,
			"chdb_query_with_params_n":         &a.queryParamsN,
			"chdb_stream_query_n":              &a.streamQueryN,
			"chdb_stream_query_with_params_n":  &a.streamQueryParamN,
			"chdb_stream_fetch_result":         &a.streamFetch,
			"chdb_stream_cancel_query":         &a.streamCancel,
			"chdb_destroy_query_result":        &a.destroyResult,
			"chdb_result_buffer":               &a.resultBuffer,
			"chdb_result_length":               &a.resultLength,
			"chdb_result_error":                &a.resultError,
			"chdb_result_rows_written":         &a.resultRowsWritten,
			"chdb_result_rows_read":            &a.resultRowsRead,
			"chdb_result_bytes_read":           &a.resultBytesRead,
			"chdb_stream_insert_n":             &a.insertN,
			"chdb_stream_insert_with_params_n": &a.insertParamsN,
			"chdb_stream_append":               &a.insertAppend,
			"chdb_stream_done":                 &a.insertDone,
			"chdb_stream_cancel_insert":        &a.insertCancel,
			"chdb_stream_insert_error":         &a.insertError,
			"chdb_destroy_insert_stream":       &a.insertDestroy,
			"chdb_classify_query_n":            &a.classify,
		} {
			sym, err := purego.Dlsym(h, name)
			if err != nil {
				loadErr = fmt.Errorf("chdb: %s lacks %s (want chDB %s): %w", path, name, Version, err)
				return
			}
			purego.RegisterFunc(fn, sym)
		}
		// Before any connect: otherwise the engine's SEGV handler turns a Go
		// nil dereference into a hang.
		a.setSignalHandlers(0)
		loaded = a
	})
	return loadErr
}

// LibraryVersion returns the engine's version string.
func LibraryVersion() string {
	if loaded == nil {
		return ""
	}
	return goString(loaded.version())
}

// goString copies a NUL-terminated C string.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// ptr returns a pointer to s's bytes (nil for "") without copying. The
// caller keeps s alive across the call.
func ptr(s string) *byte {
	if s == "" {
		return nil
	}
	return unsafe.StringData(s)
}
