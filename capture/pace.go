package capture

// pace.go: absolute-time pacing of self-paced sources (test tone, test
// pattern, Y4M files).
//
// A time.Ticker drops the ticks its reader is late for, so a pipeline that
// is slow now and then (a loaded machine, a slow encode) produces fewer
// frames than real time: audio then runs slow and every receiver conceals
// the missing frames. framePacer instead makes frame n due at
// start + n × interval, whatever happened before.
//
// Invariants:
//   - Frames are never produced early: wait returns at or after the due
//     time of the frame it releases.
//   - A frame late by at most maxLate is released at once (the pipeline
//     catches up in a burst); past that, wait skips to the newest due frame
//     and says how many it skipped, so the caller advances its media
//     timestamps by as much (receivers see a gap, not a slow clock).
//   - Skipped + released frames always equal the frames due so far.

import "time"

// framePacer releases the frames of one self-paced source.
type framePacer struct {
	start    time.Time
	interval time.Duration
	maxLate  time.Duration
	next     int64 // index of the next frame to release
	timer    *time.Timer
}

// newFramePacer paces frames every interval from now; maxLate is how late a
// frame may be and still be produced (0: only the newest due frame is).
func newFramePacer(interval, maxLate time.Duration) *framePacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &framePacer{start: time.Now(), interval: interval, maxLate: maxLate, timer: t}
}

// wait blocks until the next frame is due and returns how many frames
// before it were skipped; errStopped once stop is closed.
func (p *framePacer) wait(stop <-chan struct{}) (skipped int, err error) {
	due := p.start.Add(time.Duration(p.next) * p.interval)
	if d := time.Until(due); d > 0 {
		p.timer.Reset(d)
		select {
		case <-stop:
			p.timer.Stop()
			return 0, errStopped
		case <-p.timer.C:
		}
	} else {
		select {
		case <-stop:
			return 0, errStopped
		default:
		}
		if late := -d; late > p.maxLate {
			skipped = int(late / p.interval) // the newest due frame is late by < interval
			p.next += int64(skipped)
		}
	}
	p.next++
	return skipped, nil
}

// waitOrStop is wait for a paced source; for a nil pacer (a source whose
// Read blocks) it only checks stop.
func (p *framePacer) waitOrStop(stop <-chan struct{}) (skipped int, err error) {
	if p == nil {
		select {
		case <-stop:
			return 0, errStopped
		default:
			return 0, nil
		}
	}
	return p.wait(stop)
}

// stop releases the pacer's timer.
func (p *framePacer) stop() { p.timer.Stop() }
