// Package capture provides the native peer's media: sources (camera, X11
// screen, microphone, synthetic test patterns and tones, Y4M/IVF/Ogg
// files; see camera.go and mic.go for the device paths; and streams from
// other programs on stdin or a socket: H.264 Annex-B, IVF, Y4M, Ogg/Opus —
// see stream.go), encoders
// (VP8 through libvpx, H.264 through OpenH264, Opus) and WebRTC local tracks.
//
// It is the only package of the module that uses cgo.
//
// Encode once, send to many: each track returned by [Media.Tracks] is a
// [webrtc.TrackLocal] that may be added to any number of PeerConnections. When
// a PeerConnection binds the track, the track picks the first negotiated codec
// it can produce and subscribes the binding to one shared pipeline for that
// codec: a single encoder per (track, codec) whose RTP packets are written to
// every binding with that binding's SSRC and payload type. A pipeline starts
// with its first binding and stops when its last binding goes away —
// except for streams from other programs, which cannot be reopened: their
// pipeline runs from Open until the stream ends or the Media is closed.
package capture
