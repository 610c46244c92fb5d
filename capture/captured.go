package capture

// captured.go: telling each binding when the media it is sent was captured.
//
// A receiver plays a peer's audio and video in sync through the sender's
// RTCP sender reports, which map each track's RTP time to the sender's
// wall clock. That mapping must be of the capture instant, as browsers
// make it, not of the instant a packet is written: an audio packet is
// written once its 20 ms are complete, a video frame after encoding. The
// pipelines know the capture instant of every frame; the sender reports
// are made by the peer (peer/senderreport.go), below the writer a binding
// is given. So before writing a frame's packets, a pipeline notes the
// frame's RTP timestamp and capture instant on every binding whose writer
// implements CaptureNoter (the peer's mute gate does).
//
// Capture instants, per pipeline:
//   - live audio: the instant of the chunk's first sample. A self-paced
//     source (the tone) is due at fixed times, and the chunk released at
//     its due time holds the 20 ms before it; a device (microphone)
//     delivers a chunk when its last sample has arrived, so the first was
//     captured 20 ms before Read returned (less any samples the device
//     delivered beyond the chunk, which wait for the next one).
//   - live video: the instant the frame was read from its source, the
//     same instant its RTP timestamp is computed from.
//   - files and streams (sent as they are): the instant the frame is due
//     to be sent, which is when a live source would have captured it.

import "time"

// CaptureNoter is implemented by a binding's writer that wants each
// frame's capture instant: the frame with RTP timestamp rtpTimestamp (the
// one its packets carry) was captured at captured.
type CaptureNoter interface {
	NoteCapture(rtpTimestamp uint32, captured time.Time)
}

// noteCapture notes a frame's capture instant on b, if its writer wants it.
func noteCapture(b binding, rtpTimestamp uint32, captured time.Time) {
	if n, ok := b.write.(CaptureNoter); ok {
		n.NoteCapture(rtpTimestamp, captured)
	}
}

// audioCaptured is the capture instant of the first sample of a live
// audio chunk read at read: see the file comment.
func audioCaptured(pace *framePacer, read time.Time) time.Time {
	if pace != nil {
		return pace.due().Add(-audioFrame)
	}
	return read.Add(-audioFrame)
}

// due is when the frame wait last released was due.
func (p *framePacer) due() time.Time {
	return p.start.Add(time.Duration(p.next-1) * p.interval)
}
