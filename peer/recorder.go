package peer

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/videochat/videochat/signal/proto"
)

const (
	videoTrackNumber = 1
	audioTrackNumber = 2
	// cuesReserve is the space kept at the file's front for the seek index.
	cuesReserve = 8 << 10
	// maxLateVideo/Audio: packets the sample builders wait for a gap.
	maxLateVideo = 256
	maxLateAudio = 32
)

// recorder writes one remote peer's media to a WebM (VP8 + Opus) or
// Matroska (H.264 + Opus) file. The file is opened at the first video key
// frame (or, for a peer that sends no video, at the first audio packet), so
// it starts decodable. Block timestamps come from the RTP timestamps of
// each track, anchored to the wall clock of the track's first sample, so
// audio and video share one time line starting at 0.
type recorder struct {
	mu         sync.Mutex
	log        *slog.Logger
	base       string // path without extension
	sendsVideo func() bool
	askKey     func(ssrc uint32) // sends a PLI for the remote video
	vssrc      uint32
	lastAsk    time.Time

	vmime, amime string
	vsb, asb     *samplebuilder.SampleBuilder
	vclock       rtpClock
	aclock       rtpClock
	start        time.Time
	h264         h264Params

	video, audio webm.BlockWriteCloser
	opened       bool
	failed       bool
	closed       bool
	path         string
}

// keyFrameAskInterval spaces PLIs sent while waiting for the first key frame.
const keyFrameAskInterval = 500 * time.Millisecond

func newRecorder(dir, room string, info proto.PeerInfo, log *slog.Logger, sendsVideo func() bool, askKey func(uint32)) *recorder {
	name := fmt.Sprintf("%s-%s-%s", room, info.Name, info.ID)
	return &recorder{
		log:        log,
		base:       filepath.Join(dir, sanitizeFileName(name)),
		sendsVideo: sendsVideo,
		askKey:     askKey,
	}
}

// sanitizeFileName keeps letters, digits, '.', '-' and '_'; anything else
// (path separators, spaces, control characters) becomes '_'.
func sanitizeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// push feeds one RTP packet of a remote track to the recording.
func (rec *recorder) push(kind webrtc.RTPCodecType, mime string, pkt *rtp.Packet) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.closed || rec.failed {
		return
	}
	switch kind {
	case webrtc.RTPCodecTypeVideo:
		if rec.vsb == nil && !rec.initVideo(mime) {
			return
		}
		rec.vssrc = pkt.SSRC
		rec.vsb.Push(pkt)
		for s := rec.vsb.Pop(); s != nil; s = rec.vsb.Pop() {
			rec.videoSample(s)
		}
	case webrtc.RTPCodecTypeAudio:
		if rec.asb == nil && !rec.initAudio(mime) {
			return
		}
		rec.asb.Push(pkt)
		for s := rec.asb.Pop(); s != nil; s = rec.asb.Pop() {
			rec.audioSample(s)
		}
	}
}

func (rec *recorder) initVideo(mime string) bool {
	var depack rtp.Depacketizer
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		depack = &codecs.VP8Packet{}
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		depack = &codecs.H264Packet{}
	default:
		if rec.vmime == "" {
			rec.log.Warn("recording: video codec not supported, video not recorded", "codec", mime)
			rec.vmime = mime
		}
		return false
	}
	rec.vmime = mime
	rec.vsb = samplebuilder.New(maxLateVideo, depack, 90000)
	return true
}

func (rec *recorder) initAudio(mime string) bool {
	if !strings.EqualFold(mime, webrtc.MimeTypeOpus) {
		if rec.amime == "" {
			rec.log.Warn("recording: audio codec not supported, audio not recorded", "codec", mime)
			rec.amime = mime
		}
		return false
	}
	rec.amime = mime
	rec.asb = samplebuilder.New(maxLateAudio, &codecs.OpusPacket{}, 48000)
	return true
}

func (rec *recorder) isH264() bool { return strings.EqualFold(rec.vmime, webrtc.MimeTypeH264) }

func (rec *recorder) videoSample(s *media.Sample) {
	now := time.Now()
	data, key := s.Data, false
	if rec.isH264() {
		data, key = rec.h264.frame(s.Data)
	} else {
		key = vp8KeyFrame(data)
	}
	if !rec.opened {
		if !key || !rec.openOnKeyFrame(data, now) {
			rec.askKeyFrame(now)
			return
		}
		rec.vclock.anchor(s.PacketTimestamp, now, 90000)
	}
	if rec.video == nil || len(data) == 0 {
		return
	}
	if !rec.vclock.set {
		rec.vclock.anchor(s.PacketTimestamp, now, 90000)
	}
	ms := rec.vclock.millis(s.PacketTimestamp, rec.start)
	if ms < 0 {
		return
	}
	if _, err := rec.video.Write(key, ms, data); err != nil {
		rec.fail(err)
	}
}

// askKeyFrame asks the sender for a key frame, at most every
// keyFrameAskInterval, so the recording does not wait a whole GOP.
func (rec *recorder) askKeyFrame(now time.Time) {
	if rec.askKey == nil || now.Sub(rec.lastAsk) < keyFrameAskInterval {
		return
	}
	rec.lastAsk = now
	rec.askKey(rec.vssrc)
}

// openOnKeyFrame opens the file with the video size read from the key frame.
func (rec *recorder) openOnKeyFrame(frame []byte, now time.Time) bool {
	var entry webm.TrackEntry
	ext := ".webm"
	if rec.isH264() {
		w, h, avcc, ok := rec.h264.config()
		if !ok {
			return false // no SPS/PPS yet: wait for a key frame that has them
		}
		entry = videoEntry("V_MPEG4/ISO/AVC", w, h)
		entry.CodecPrivate = avcc
		ext = ".mkv"
	} else {
		w, h, ok := vp8Size(frame)
		if !ok {
			return false
		}
		entry = videoEntry("V_VP8", w, h)
	}
	rec.start = now
	rec.open(ext, &entry, true)
	return rec.opened
}

func (rec *recorder) audioSample(s *media.Sample) {
	now := time.Now()
	if !rec.aclock.set {
		rec.aclock.anchor(s.PacketTimestamp, now, 48000)
	}
	if !rec.opened {
		if rec.vsb != nil || rec.sendsVideo() {
			return // wait for the video key frame
		}
		rec.start = now
		rec.open(".webm", nil, true)
		if !rec.opened {
			return
		}
	}
	if rec.audio == nil {
		return
	}
	ms := rec.aclock.millis(s.PacketTimestamp, rec.start)
	if ms < 0 {
		return
	}
	if _, err := rec.audio.Write(true, ms, s.Data); err != nil {
		rec.fail(err)
	}
}

func videoEntry(codecID string, w, h int) webm.TrackEntry {
	return webm.TrackEntry{
		Name: "Video", TrackNumber: videoTrackNumber, TrackUID: videoTrackNumber,
		CodecID: codecID, TrackType: 1,
		Video: &webm.Video{PixelWidth: uint64(w), PixelHeight: uint64(h)},
	}
}

func audioEntry() webm.TrackEntry {
	return webm.TrackEntry{
		Name: "Audio", TrackNumber: audioTrackNumber, TrackUID: audioTrackNumber,
		CodecID: "A_OPUS", TrackType: 2, CodecPrivate: opusHead(2, 48000),
		Audio: &webm.Audio{SamplingFrequency: 48000, Channels: 2},
	}
}

// open creates the file with a video track (when video is not nil) and an
// Opus track (when withAudio).
func (rec *recorder) open(ext string, video *webm.TrackEntry, withAudio bool) {
	var tracks []webm.TrackEntry
	if video != nil {
		tracks = append(tracks, *video)
	}
	if withAudio {
		tracks = append(tracks, audioEntry())
	}
	f, err := createUnique(rec.base, ext)
	if err == nil {
		rec.path = f.Name()
	}
	if err != nil {
		rec.fail(err)
		return
	}
	header := *webm.DefaultEBMLHeader
	if ext == ".mkv" {
		header.DocType = "matroska"
	}
	sorter, err := mkvcore.NewMultiTrackBlockSorter(
		mkvcore.WithMaxDelayedPackets(16), mkvcore.WithSortRule(mkvcore.BlockSorterDropOutdated))
	if err != nil {
		_ = f.Close()
		rec.fail(err)
		return
	}
	ws, err := webm.NewSimpleBlockWriter(f, tracks,
		mkvcore.WithEBMLHeader(&header),
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "videochat", WritingApp: "videochat"}),
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cuesReserve),
		mkvcore.WithBlockInterceptor(sorter),
		mkvcore.WithOnErrorHandler(func(err error) { rec.log.Debug("recording", "err", err) }),
		mkvcore.WithOnFatalHandler(func(err error) { rec.log.Error("recording failed", "path", rec.path, "err", err) }),
	)
	if err != nil {
		_ = f.Close()
		rec.fail(err)
		return
	}
	for i, t := range tracks {
		switch t.TrackNumber {
		case videoTrackNumber:
			rec.video = ws[i]
		case audioTrackNumber:
			rec.audio = ws[i]
		}
	}
	rec.opened = true
	rec.log.Info("recording", "path", rec.path)
}

func (rec *recorder) fail(err error) {
	rec.failed = true
	rec.log.Error("recording stopped", "path", rec.path, "err", err)
}

// close finalizes the file (duration and seek index). Packets pushed
// afterwards are dropped.
func (rec *recorder) close() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.closed {
		return
	}
	rec.closed = true
	for _, w := range []webm.BlockWriteCloser{rec.video, rec.audio} {
		if w != nil {
			_ = w.Close()
		}
	}
	if rec.opened {
		rec.log.Info("recording finalized", "path", rec.path)
	}
}

// rtpClock maps one track's RTP timestamps to milliseconds on the
// recording's time line: the wall time of the first sample plus the RTP
// time elapsed since, with 32-bit wraparound unwrapped.
type rtpClock struct {
	set   bool
	wall  time.Time
	rate  int64
	last  uint32
	ticks int64 // unwrapped RTP ticks since the anchor
}

func (c *rtpClock) anchor(ts uint32, wall time.Time, rate int64) {
	*c = rtpClock{set: true, wall: wall, rate: rate, last: ts}
}

func (c *rtpClock) millis(ts uint32, start time.Time) int64 {
	c.ticks += int64(int32(ts - c.last))
	c.last = ts
	return c.wall.Sub(start).Milliseconds() + c.ticks*1000/c.rate
}

// maxRecordingSuffix bounds the numbered names createUnique tries.
const maxRecordingSuffix = 99

// createUnique creates base+ext, or base-2+ext, base-3+ext, … when it
// exists: a peer whose connection was replaced (same id, see handOff) gets
// a second recording instead of overwriting the first.
func createUnique(base, ext string) (*os.File, error) {
	path := base + ext
	for n := 2; ; n++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) || n > maxRecordingSuffix {
			return f, err
		}
		path = fmt.Sprintf("%s-%d%s", base, n, ext)
	}
}
