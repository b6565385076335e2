// Package progress draws the progress of a long command on stderr: a bar
// redrawn in place (\r) on a terminal, at most Options.Redraw often and
// cleared when the work ends; a plain line every Options.Every otherwise
// (logs, CI), so a pipe gets a record it can read later.
//
// A Bar is not safe for concurrent use: call it from the goroutine doing
// the work (or a progress callback that runs on one goroutine).
package progress

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Options configure a Bar. The zero value of each field has a default.
type Options struct {
	// Label starts every line ("ingest", "backfill github", ...).
	Label string
	// Unit of Done and Total: "B" renders them as bytes (KB, MB ...),
	// anything else as counts followed by the unit ("events").
	Unit string
	// Terminal selects the redrawn bar; false prints plain lines.
	Terminal bool
	// Width is the terminal's width in columns (default 100).
	Width int
	// Redraw is the shortest time between two redraws on a terminal
	// (default 100 ms: at most ~10 a second).
	Redraw time.Duration
	// Every is the time between two plain lines (default 5 s).
	Every time.Duration
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

// State is the progress at one moment.
type State struct {
	// Done is how far the work is, in Options.Unit; Total how far it
	// goes (0: unknown, no bar, percentage or ETA).
	Done, Total int64
	// Items counts what the work produces (events), named by ItemUnit;
	// the rate shown is of Items when ItemUnit is set, of Done otherwise.
	Items    int64
	ItemUnit string
	// Detail follows the figures ("12 rejected, 3 duplicates").
	Detail string
}

// Bar renders progress to w.
type Bar struct {
	w     io.Writer
	opts  Options
	start time.Time
	last  time.Time // last draw (zero: none yet)
	drawn bool      // a bar is on the terminal line
	state State
}

// New starts a Bar at opts.Now().
func New(w io.Writer, opts Options) *Bar {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Width <= 0 {
		opts.Width = 100
	}
	if opts.Redraw <= 0 {
		opts.Redraw = 100 * time.Millisecond
	}
	if opts.Every <= 0 {
		opts.Every = 5 * time.Second
	}
	return &Bar{w: w, opts: opts, start: opts.Now()}
}

// Update records s and draws it unless the last draw was too recent.
func (b *Bar) Update(s State) {
	b.state = s
	now := b.opts.Now()
	if !b.due(now) {
		return
	}
	b.last = now
	b.draw(now)
}

// Due reports whether an Update now would draw: callers whose State is
// costly to gather ask first.
func (b *Bar) Due() bool { return b.due(b.opts.Now()) }

func (b *Bar) due(now time.Time) bool {
	if !b.opts.Terminal {
		// Plain lines start after the first interval: a short job prints
		// only its summary.
		ref := b.last
		if ref.IsZero() {
			ref = b.start
		}
		return now.Sub(ref) >= b.opts.Every
	}
	return b.last.IsZero() || now.Sub(b.last) >= b.opts.Redraw
}

// Finish clears the bar from the terminal line (the caller prints its
// summary next). Plain output needs no clearing. Idempotent.
func (b *Bar) Finish() {
	if b.opts.Terminal && b.drawn {
		fmt.Fprint(b.w, "\r\x1b[K")
		b.drawn = false
	}
}

// Clear takes the bar off the terminal line so that the caller can print
// a line of its own; the next Update draws it again.
func (b *Bar) Clear() { b.Finish() }

func (b *Bar) draw(now time.Time) {
	line := Render(b.state, b.opts, now.Sub(b.start))
	if b.opts.Terminal {
		if len(line) > b.opts.Width-1 {
			line = line[:b.opts.Width-1]
		}
		fmt.Fprintf(b.w, "\r%s\x1b[K", line)
		b.drawn = true
		return
	}
	fmt.Fprintln(b.w, line)
}

// Render is the line for s after elapsed: the bar (terminal, total known),
// done/total and percentage, rate, ETA, elapsed, detail.
func Render(s State, opts Options, elapsed time.Duration) string {
	var parts []string
	head := opts.Label
	if opts.Terminal && s.Total > 0 {
		head += " " + bar(Fraction(s), 24)
	}
	if s.Total > 0 {
		parts = append(parts, fmt.Sprintf("%s/%s %s", amount(s.Done, opts.Unit), amount(s.Total, opts.Unit), percent(Fraction(s))))
	} else if s.ItemUnit == "" || s.Done != s.Items {
		parts = append(parts, amount(s.Done, opts.Unit))
	}
	if s.ItemUnit != "" {
		parts = append(parts, fmt.Sprintf("%d %s", s.Items, s.ItemUnit))
	}
	if r, unit := rateOf(s, opts, elapsed); elapsed > 0 {
		parts = append(parts, fmt.Sprintf("%s/s", rateAmount(r, unit)))
	}
	if eta, ok := ETA(s.Done, s.Total, elapsed); ok {
		parts = append(parts, "ETA "+Duration(eta))
	}
	parts = append(parts, "elapsed "+Duration(elapsed))
	if s.Detail != "" {
		parts = append(parts, s.Detail)
	}
	sep := ": "
	if opts.Terminal {
		sep = " "
	}
	return head + sep + strings.Join(parts, ", ")
}

// Fraction is Done/Total clamped to [0, 1]; 0 when Total is unknown.
func Fraction(s State) float64 {
	if s.Total <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, float64(s.Done)/float64(s.Total)))
}

// Rate is n per second over elapsed (0 before any time passed).
func Rate(n int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}

// ETA is the time left at the average rate so far: (total−done)/rate.
// ok is false when it cannot be told (no total, nothing done yet).
func ETA(done, total int64, elapsed time.Duration) (time.Duration, bool) {
	if total <= 0 || done <= 0 || elapsed <= 0 {
		return 0, false
	}
	if done >= total {
		return 0, true
	}
	left := float64(total-done) / Rate(done, elapsed)
	return time.Duration(left * float64(time.Second)), true
}

func rateOf(s State, opts Options, elapsed time.Duration) (float64, string) {
	if s.ItemUnit != "" {
		return Rate(s.Items, elapsed), s.ItemUnit
	}
	return Rate(s.Done, elapsed), opts.Unit
}

// Duration renders d as 1h02m03s, 2m03s or 3s (whole seconds).
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, sec)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}

func bar(f float64, width int) string {
	full := int(f * float64(width))
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("=", full))
	if full < width {
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", width-full-1))
	}
	b.WriteByte(']')
	return b.String()
}

func percent(f float64) string { return fmt.Sprintf("(%.0f%%)", math.Floor(f*100)) }

// amount renders n in unit: bytes with a binary prefix, else a count.
func amount(n int64, unit string) string {
	if unit == "B" {
		return Bytes(float64(n))
	}
	if unit == "" {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d %s", n, unit)
}

func rateAmount(r float64, unit string) string {
	if unit == "B" {
		return Bytes(r)
	}
	s := Count(r)
	if unit != "" {
		s += " " + unit
	}
	return s
}

// Bytes renders n bytes as 512 B, 1.5 KiB, 12.3 MiB, 4.0 GiB.
func Bytes(n float64) string {
	const k = 1024
	switch {
	case n < k:
		return fmt.Sprintf("%.0f B", n)
	case n < k*k:
		return fmt.Sprintf("%.1f KiB", n/k)
	case n < k*k*k:
		return fmt.Sprintf("%.1f MiB", n/(k*k))
	}
	return fmt.Sprintf("%.1f GiB", n/(k*k*k))
}

// Count renders a rate or count: 950, 12.3k, 1.25M.
func Count(n float64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%.0f", n)
	case n < 1e6:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.2fM", n/1e6)
}
