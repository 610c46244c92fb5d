// Package playback plays the room's audio: it decodes every remote Opus
// stream with libopus (loss concealment and in-band FEC included), gives
// each one an adaptive jitter buffer, mixes them, and plays the mix on a
// speaker through miniaudio (malgo), the audio stack the microphone uses.
//
// The path of a packet is in stream.go, the jitter buffer in jitter.go, the
// mix in mixer.go and the devices in output.go. A Stream satisfies the
// WriteRTP/SenderReport/Close contract of peer.TrackSink (cmd/ wires it);
// this package does not import peer.
//
// Besides sound it offers what other parts need: per-peer levels
// ([Mixer.Levels]), counters ([Mixer.Stats]) and the lip-sync clock
// ([Mixer.SenderTimeNow]) that the video views follow.
//
// It is a media package: it uses cgo (libopus through pkg-config, Debian
// libopus-dev; malgo).
package playback
