package main

// Remote media of `videochat join`: the flags of playback and the one
// dispatcher that peer.Config.OnTrack calls for every remote track. Audio
// goes to the player (decoded, mixed, played on --speaker); video goes to
// remoteMedia.Video, the hook the view wiring sets (nil: not shown).

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/webrtc/v4"
	"github.com/spf13/pflag"

	"github.com/videochat/videochat/capture"
	"github.com/videochat/videochat/peer"
	"github.com/videochat/videochat/playback"
)

// playFlags are the flags of audio playback.
type playFlags struct {
	speaker string
}

func (f *playFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.speaker, "speaker", "", "where remote audio plays: a speaker id listed by 'videochat devices', or none (default: the system's default output)")
}

// remoteMedia hands remote tracks to the player and the view.
type remoteMedia struct {
	log   *slog.Logger
	audio *playback.Player
	// Video, when set, is offered every remote video track (the view's
	// wiring sets it); nil leaves video to recording and stats.
	Video func(peer.RemoteTrack) peer.TrackSink
}

// Compile-time check: a playback stream is a peer track sink.
var _ peer.TrackSink = (*playback.Stream)(nil)

// openRemoteMedia opens the speaker. A --speaker that names no device is a
// usage error; no default device is one warning (logged by playback).
func openRemoteMedia(f playFlags, log *slog.Logger) (*remoteMedia, error) {
	p, err := playback.New(playback.Config{Speaker: f.speaker, Logger: log.With("component", "playback")})
	if err != nil {
		if errors.Is(err, playback.ErrNoSpeaker) {
			return nil, withCode(exitUsage, fmt.Errorf("--speaker: %w", err))
		}
		return nil, withCode(exitError, fmt.Errorf("--speaker %s: %w", f.speaker, err))
	}
	return &remoteMedia{log: log, audio: p}, nil
}

// onTrack is peer.Config.OnTrack.
func (r *remoteMedia) onTrack(t peer.RemoteTrack) peer.TrackSink {
	switch t.Kind {
	case webrtc.RTPCodecTypeAudio:
		if !strings.EqualFold(t.Codec.MimeType, webrtc.MimeTypeOpus) {
			r.log.Warn("remote audio not played: not Opus", "peer", t.Peer.Name, "codec", t.Codec.MimeType)
			return nil
		}
		s, err := r.audio.AddStream(playback.Track{PeerID: t.Peer.ID, PeerName: t.Peer.Name, PayloadType: uint8(t.Codec.PayloadType)})
		if err != nil {
			r.log.Warn("remote audio not played", "peer", t.Peer.Name, "err", err)
			return nil
		}
		return s
	case webrtc.RTPCodecTypeVideo:
		if r.Video != nil {
			return r.Video(t)
		}
	}
	return nil
}

// close stops the speaker; call it after the peer has finished (its
// tracks are closed by then).
func (r *remoteMedia) close() { r.audio.Close() }

// audioStatus is the status line's part for the played audio: each remote
// peer's level, e.g. " | ♪ alice -23dB bob -60dB".
func audioStatus(p *playback.Player) string {
	if p == nil {
		return ""
	}
	levels := p.Levels()
	if len(levels) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" | ♪")
	for _, l := range levels {
		fmt.Fprintf(&b, " %s %.0fdB", l.PeerName, l.DBFS())
	}
	return b.String()
}

// speakerDevices lists the audio outputs for `videochat devices` (kind
// "speaker"); a system without any lists none.
func speakerDevices(log *slog.Logger) ([]capture.Device, error) {
	spk, err := playback.Speakers(log)
	if err != nil {
		return nil, nil // no sound server: nothing to list, as for microphones
	}
	devs := make([]capture.Device, 0, len(spk))
	for _, d := range spk {
		devs = append(devs, capture.Device{ID: d.ID, Label: d.Label, Kind: d.Kind})
	}
	return devs, nil
}
