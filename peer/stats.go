package peer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// MinFrames is the number of video frames a remote peer must deliver for
// Check to count it.
const MinFrames = 30

// Snapshot is the peer's statistics at one moment, in the --stats-json
// schema (issue 3 item 6): one JSON object per line.
type Snapshot struct {
	Time  time.Time   `json:"time"`
	Peers []PeerStats `json:"peers"`
}

// PeerStats describes the connection to one remote peer.
type PeerStats struct {
	ID    string     `json:"id"`
	Name  string     `json:"name"`
	State string     `json:"state"`
	Video VideoStats `json:"video"`
	Audio AudioStats `json:"audio"`
	// BytesSent counts the bytes sent on the selected ICE candidate pair:
	// media, RTCP and data channels with their SRTP/DTLS overhead.
	BytesSent     uint64        `json:"bytes_sent"`
	RTTMillis     float64       `json:"rtt_ms"`
	CandidatePair CandidatePair `json:"candidate_pair"`
	// ICERestarts counts completed ICE restarts on this connection,
	// whichever side initiated them: negotiations that changed the
	// remote ICE credentials.
	ICERestarts int64 `json:"ice_restarts"`
	// Announced state, talk detection, link quality and safety code (state.go).
	FeatureStats

	// What we send this peer (with Config.Links): the video encoder
	// target of the layer it gets (bits/s; 0 unknown), the layer (0 = best;
	// -1 unknown), the fraction of our video it reported lost, the NACK
	// and PLI/FIR packets it sent us and the bytes we retransmitted (RTX).
	TargetBitrate int `json:"target_bitrate"`
	// EstimateBitrate is the link's bandwidth estimate for video (gcc or
	// REMB, audio reserve taken off), bits/s; 0 unknown.
	EstimateBitrate int     `json:"estimate_bitrate"`
	Layer           int     `json:"layer"`
	Loss            float64 `json:"loss"`
	NACKCount       uint64  `json:"nack_count"`
	PLICount        uint64  `json:"pli_count"`
	RTXBytes        uint64  `json:"rtx_bytes"`
	// What we receive from this peer: video freezes (a frame gap over 3 x
	// the average frame interval and at least 200 ms, as in Chromium's
	// getStats), their total and longest duration, and the interarrival
	// jitter of its video.
	FreezeCount  uint64  `json:"freeze_count"`
	FreezeMillis int64   `json:"freeze_ms"`
	FreezeMaxMs  int64   `json:"freeze_max_ms"`
	JitterMillis float64 `json:"jitter_ms"`

	// Not part of the JSON schema: for tests and the status line.
	SignalingState string    `json:"-"`
	Negotiations   int64     `json:"-"`
	Collisions     int64     `json:"-"`
	FirstFrame     time.Time `json:"-"`
	// ICERestartsSent counts the ICE-restart offers this side initiated
	// (retries included; always 0 on the side that did not offer first).
	ICERestartsSent int64 `json:"-"`
	// RemoteUfrag is the ICE username fragment of the current remote
	// description: it changes with every completed ICE restart.
	RemoteUfrag string `json:"-"`
}

// VideoStats counts received video.
type VideoStats struct {
	FramesReceived uint64  `json:"frames_received"`
	BytesReceived  uint64  `json:"bytes_received"`
	FPS            float64 `json:"fps"`
}

// AudioStats counts received audio.
type AudioStats struct {
	PacketsReceived uint64 `json:"packets_received"`
}

// CandidatePair names the types of the selected ICE candidate pair
// ("host", "srflx", "prflx", "relay"; empty before selection).
type CandidatePair struct {
	LocalType  string `json:"local_type"`
	RemoteType string `json:"remote_type"`
}

// Stats returns a snapshot of every current connection, ordered by name.
func (p *Peer) Stats() Snapshot {
	rs := p.remotesSorted()
	s := Snapshot{Time: time.Now().UTC().Truncate(time.Second), Peers: make([]PeerStats, 0, len(rs))}
	for _, r := range rs {
		s.Peers = append(s.Peers, r.snapshot())
	}
	return s
}

func (r *remote) snapshot() PeerStats {
	info := r.p.rosterInfo(r.info)
	ps := PeerStats{
		ID:   info.ID,
		Name: info.Name,
		// pion runs each state callback on its own goroutine, so the
		// last callback is not always the current state: ask the PC.
		State: r.pc.ConnectionState().String(),
		Video: VideoStats{
			FramesReceived: r.stats.videoFrames.Load(),
			BytesReceived:  r.stats.videoBytes.Load(),
			FPS:            r.stats.rate(),
		},
		Audio:          AudioStats{PacketsReceived: r.stats.audioPackets.Load()},
		SignalingState: r.pc.SignalingState().String(),
		Negotiations:   r.neg.rounds.Load(),
		Collisions:     r.neg.glare.Load(),
		ICERestarts:    r.neg.restartsDone.Load(),

		ICERestartsSent: r.neg.restartsSent.Load(),
		RemoteUfrag:     r.neg.remoteUfrag.Load().(string),
	}
	if ns := r.stats.firstFrame.Load(); ns != 0 {
		ps.FirstFrame = time.Unix(0, ns)
	}
	r.linkStats(&ps)
	// Read the ICE transport only once it has connected: pion v4.2.26
	// sets ICETransport.gatherer when ICE starts without the lock its
	// stats getters would need. Seeing "connected" (an atomic) orders
	// that write before our reads.
	if ps.State == webrtc.PeerConnectionStateConnected.String() {
		r.iceUp.Store(true)
	}
	if r.iceUp.Load() {
		r.transportStats(&ps)
	}
	r.featureStats(&ps)
	return ps
}

// linkStats fills the congestion-control, layer, loss-recovery and freeze
// figures.
func (r *remote) linkStats(ps *PeerStats) {
	n, total, worst := r.stats.freezes.read()
	ps.FreezeCount, ps.FreezeMillis, ps.FreezeMaxMs = n, total.Milliseconds(), worst.Milliseconds()
	ps.Layer = -1
	var sent uint32
	if sv := r.sentVideo.Load(); sv != nil {
		sent = sv.ssrc
		if t, ok := sv.track.(sendStatser); ok {
			if target, layer, ok := t.SendStats(sv.ssrc); ok {
				ps.TargetBitrate, ps.Layer = target, layer
			}
		}
	}
	links := r.p.cfg.Links
	if links == nil {
		return
	}
	st, ok := links.stats(r.pc.ID(), sent, r.stats.videoSSRC.Load())
	if !ok {
		return
	}
	if sent == 0 { // we send this peer no video: nothing to estimate for
		st.TargetBitrate = 0
	}
	ps.EstimateBitrate = st.TargetBitrate
	if ps.TargetBitrate == 0 {
		ps.TargetBitrate = st.TargetBitrate
	}
	ps.Loss = math.Round(st.Loss*1000) / 1000
	ps.NACKCount, ps.PLICount, ps.RTXBytes = st.NACKs, st.PLIs, st.RTXBytes
	ps.JitterMillis = math.Round(st.JitterMs*10) / 10
}

// transportStats fills bytes sent, RTT and the selected pair's types from
// the ICE transport. It does not use PeerConnection.GetStats: pion closes a
// PeerConnection by itself when the other side closes it (DTLS
// close_notify, SCTP abort), and GetStats races with that close (pion
// v4.2.26 writes pc.statsGetter without a lock), so a stats poll at the
// moment a peer leaves or replaces its connection would be a data race.
func (r *remote) transportStats(ps *PeerStats) {
	ice := r.pc.SCTP().Transport().ICETransport()
	if st, ok := ice.GetSelectedCandidatePairStats(); ok {
		ps.RTTMillis = math.Round(st.CurrentRoundTripTime*1000*10) / 10
		ps.BytesSent = st.BytesSent
	}
	if pair, err := ice.GetSelectedCandidatePair(); err == nil && pair != nil && pair.Local != nil && pair.Remote != nil {
		ps.CandidatePair.LocalType = pair.Local.Typ.String()
		ps.CandidatePair.RemoteType = pair.Remote.Typ.String()
	}
}

// Check reports whether at least n remote peers each delivered MinFrames
// video frames and some audio packets. The error is one line saying what is
// missing, naming each peer that fell short.
func (s Snapshot) Check(n int) error {
	ok := 0
	var short []string
	for _, p := range s.Peers {
		if p.Video.FramesReceived >= MinFrames && p.Audio.PacketsReceived > 0 {
			ok++
			continue
		}
		short = append(short, fmt.Sprintf("%s (%s): %d video frames, %d audio packets",
			p.Name, p.ID, p.Video.FramesReceived, p.Audio.PacketsReceived))
	}
	if ok >= n {
		return nil
	}
	msg := fmt.Sprintf("expected %d remote peer(s) with ≥%d video frames and audio, got %d", n, MinFrames, ok)
	if len(s.Peers) == 0 {
		return fmt.Errorf("%s: no remote peers connected", msg)
	}
	return fmt.Errorf("%s; short: %s", msg, strings.Join(short, "; "))
}

// LastSnapshot reads the last line of a --stats-json file (one Snapshot
// per line).
func LastSnapshot(path string) (Snapshot, error) { return LastStatsLine[Snapshot](path) }

// LastStatsLine decodes the last complete line of a --stats-json file into
// T: a Snapshot, or a struct of the fields other parts (playback, view) add
// to the line. The file may be read while join is writing it, so a final
// line without its newline is ignored; a file with no complete line yet is
// ErrNoStats.
func LastStatsLine[T any](path string) (T, error) {
	var v T
	b, err := os.ReadFile(path)
	if err != nil {
		return v, err
	}
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return v, fmt.Errorf("%s: %w", path, ErrNoStats)
	}
	last := b[bytes.LastIndexByte(b[:end], '\n')+1 : end]
	if err := json.Unmarshal(last, &v); err != nil {
		return v, fmt.Errorf("%s: last line: %w", path, err)
	}
	return v, nil
}

// ErrNoStats says a --stats-json file has no complete line yet (join writes
// one a second).
var ErrNoStats = errors.New("no complete stats line yet")
