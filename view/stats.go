package view

import "sync/atomic"

// counters of one tile (all its tracks), and of the whole view.
type counters struct {
	framesDecoded     atomic.Int64
	framesIncomplete  atomic.Int64 // dropped: a packet was lost or unusable
	framesWaitKey     atomic.Int64 // dropped while waiting for a key frame
	framesOverflow    atomic.Int64 // dropped: the decoder was behind (flood)
	decodeErrors      atomic.Int64 // the codec refused the frame
	tooLarge          atomic.Int64 // dropped: above decode.MaxWidth×MaxHeight
	resized           atomic.Int64 // frames scaled down before showing
	resolutionChanges atomic.Int64
	codecSwitches     atomic.Int64
	unknownPT         atomic.Int64 // packets of a payload type not negotiated
	badPackets        atomic.Int64 // payloads the depacketizer refused
	lostPackets       atomic.Int64
	latePackets       atomic.Int64 // duplicates and packets after their frame
	keyRequests       atomic.Int64 // PLIs sent
	framesHeld        atomic.Int64 // frames held back for lip sync at least once
}

// Counters is a snapshot of the counters, as the stats report them.
type Counters struct {
	FramesDecoded     int64 `json:"frames_decoded"`
	FramesIncomplete  int64 `json:"frames_incomplete"`
	FramesWaitKey     int64 `json:"frames_wait_key"`
	FramesOverflow    int64 `json:"frames_overflow"`
	DecodeErrors      int64 `json:"decode_errors"`
	TooLarge          int64 `json:"too_large"`
	Resized           int64 `json:"resized"`
	ResolutionChanges int64 `json:"resolution_changes"`
	CodecSwitches     int64 `json:"codec_switches"`
	UnknownPT         int64 `json:"unknown_payload_type"`
	BadPackets        int64 `json:"bad_packets"`
	LostPackets       int64 `json:"lost_packets"`
	LatePackets       int64 `json:"late_packets"`
	KeyRequests       int64 `json:"key_frame_requests"`
	FramesHeld        int64 `json:"frames_held_for_sync"`
}

func (c *counters) snapshot() Counters {
	return Counters{
		FramesDecoded:     c.framesDecoded.Load(),
		FramesIncomplete:  c.framesIncomplete.Load(),
		FramesWaitKey:     c.framesWaitKey.Load(),
		FramesOverflow:    c.framesOverflow.Load(),
		DecodeErrors:      c.decodeErrors.Load(),
		TooLarge:          c.tooLarge.Load(),
		Resized:           c.resized.Load(),
		ResolutionChanges: c.resolutionChanges.Load(),
		CodecSwitches:     c.codecSwitches.Load(),
		UnknownPT:         c.unknownPT.Load(),
		BadPackets:        c.badPackets.Load(),
		LostPackets:       c.lostPackets.Load(),
		LatePackets:       c.latePackets.Load(),
		KeyRequests:       c.keyRequests.Load(),
		FramesHeld:        c.framesHeld.Load(),
	}
}

// add adds o into c (for the view's totals).
func (c Counters) add(o Counters) Counters {
	c.FramesDecoded += o.FramesDecoded
	c.FramesIncomplete += o.FramesIncomplete
	c.FramesWaitKey += o.FramesWaitKey
	c.FramesOverflow += o.FramesOverflow
	c.DecodeErrors += o.DecodeErrors
	c.TooLarge += o.TooLarge
	c.Resized += o.Resized
	c.ResolutionChanges += o.ResolutionChanges
	c.CodecSwitches += o.CodecSwitches
	c.UnknownPT += o.UnknownPT
	c.BadPackets += o.BadPackets
	c.LostPackets += o.LostPackets
	c.LatePackets += o.LatePackets
	c.KeyRequests += o.KeyRequests
	c.FramesHeld += o.FramesHeld
	return c
}
