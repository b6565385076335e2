package mbox

import (
	"bufio"
	"bytes"
	"io"
)

// message is one message of a mailbox, cut at its "From " separator line.
type message struct {
	// line is the 1-based line of the separator line (of the first line
	// when the mailbox does not start with one).
	line int
	// raw is the RFC 5322 message: the separator line removed, ">From "
	// lines unquoted, at most MaxMessageBytes.
	raw []byte
	// size is the length of the whole message as stored (before unquoting);
	// over MaxMessageBytes, raw holds only the beginning.
	size int64
	// separator says whether a "From " line started the message;
	// envelope is that line's text after "From " (at most 256 bytes).
	separator bool
	envelope  string
}

func (m *message) tooLong() bool { return m.size > MaxMessageBytes }

// split calls yield with each message of r, in order, until yield returns
// false. A separator is a line starting with "From " at the start of the
// mailbox or after an empty line; other "From " lines are body text (the
// mboxcl rule most writers and readers agree on). Body lines written as
// ">From ", ">>From " ... lose one ">" (mboxrd; for mboxo files this
// unquotes ">>From " one level too far, which touches only body text).
// Content before the first separator is yielded as a message of its own
// unless it is blank, so a file holding one bare RFC 5322 message reads as
// that message. It returns the read error that stopped it, if any.
func split(r io.Reader, yield func(message) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		cur       message
		lineNo    int
		prevBlank = true // the start of the mailbox counts as after a blank line
		atStart   = true // the next fragment starts a line
		lineBlank bool   // the current line is empty so far
		dropLine  bool   // the current line is the separator: not part of raw
	)
	cur.line = 1
	flush := func() bool {
		if !cur.separator && len(bytes.TrimSpace(cur.raw)) == 0 {
			return true
		}
		// The empty line before the next separator belongs to the mailbox
		// format, not to the message.
		if bytes.HasSuffix(cur.raw, []byte("\n\n")) {
			cur.raw = cur.raw[:len(cur.raw)-1]
		} else if bytes.HasSuffix(cur.raw, []byte("\r\n\r\n")) {
			cur.raw = cur.raw[:len(cur.raw)-2]
		}
		return yield(cur)
	}
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			if atStart {
				lineNo++
				dropLine = false
				// The buffer holds 64 KiB, so the first fragment of a line
				// holds its first 5 bytes unless the line is shorter.
				if prevBlank && bytes.HasPrefix(frag, []byte("From ")) {
					if lineNo > 1 || cur.separator {
						if !flush() {
							return nil
						}
					}
					env := bytes.TrimRight(frag[5:], "\r\n")
					cur = message{line: lineNo, separator: true, envelope: string(env[:min(len(env), 256)])}
					dropLine = true
				} else if frag[0] == '>' {
					if t := bytes.TrimLeft(frag, ">"); bytes.HasPrefix(t, []byte("From ")) {
						frag = frag[1:]
						cur.size++
					}
				}
				lineBlank = true
			}
			if !dropLine {
				cur.size += int64(len(frag))
				if room := MaxMessageBytes - len(cur.raw); room > 0 {
					cur.raw = append(cur.raw, frag[:min(room, len(frag))]...)
				}
			}
			if lineBlank && len(bytes.TrimRight(frag, "\r\n")) > 0 {
				lineBlank = false
			}
			atStart = frag[len(frag)-1] == '\n'
			if atStart {
				prevBlank = lineBlank
			}
		}
		switch err {
		case nil, bufio.ErrBufferFull:
			continue
		case io.EOF:
			flush()
			return nil
		default:
			return err
		}
	}
}
