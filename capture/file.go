package capture

import (
	"errors"
	"io"
	"time"
)

// encodedSource yields already-encoded frames of a file, looping forever:
// pts keeps growing across loops.
type encodedSource interface {
	// Next returns the next frame and its presentation time from the start
	// of playback. The data is valid until the next call.
	Next() (data []byte, pts time.Duration, err error)
	Close() error
}

// passthrough is the pipeline of encoded files (.ivf, .ogg): frames are sent
// as they are, paced by their timestamps. Keyframe requests cannot be
// honoured; receivers recover at the file's next keyframe.
type passthrough struct {
	open  func() (encodedSource, error)
	key   codecKey
	clock int // RTP clock rate
}

func (p *passthrough) run(stop <-chan struct{}, t *track) error {
	src, err := p.open()
	if err != nil {
		return err
	}
	defer src.Close()
	out := newRTPOut(p.key)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var subs []binding
	version := noVersion
	start := time.Now()
	for {
		data, pts, err := src.Next()
		if err != nil {
			return err
		}
		timer.Reset(time.Until(start.Add(pts)))
		select {
		case <-stop:
			return nil
		case <-timer.C:
		}
		if all, ver, changed := t.subscribers(version); changed {
			subs, version = all[p.key], ver
		}
		t.counters.frames.Add(1)
		t.counters.bytes.Add(int64(len(data)))
		out.send(subs, data, uint32(int64(pts)*int64(p.clock)/int64(time.Second)), start.Add(pts))
	}
}

// looper restarts a file at its end. restart rewinds the file and returns
// the first frame; the pts offset grows by the length of each loop.
type looper struct {
	offset, last, step time.Duration
	frames             int
}

// shift turns a pts within the current loop into a playback pts.
func (l *looper) shift(pts time.Duration) time.Duration {
	if l.frames > 0 && pts > l.last {
		l.step = pts - l.last
	}
	l.last = pts
	l.frames++
	return l.offset + pts
}

// wrap is called at the end of the file; it returns an error if the file
// had no frames at all.
func (l *looper) wrap() error {
	if l.frames == 0 {
		return errors.New("file has no frames")
	}
	step := l.step
	if step <= 0 {
		step = 33 * time.Millisecond
	}
	l.offset += l.last + step
	l.frames, l.last = 0, 0
	return nil
}

// isEOF reports a clean or truncated end of file.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
