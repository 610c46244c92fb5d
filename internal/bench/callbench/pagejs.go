package callbench

import (
	"encoding/json"
	"fmt"
)

// pageSetup is what the benchmark changes in the browser client's page.
type pageSetup struct {
	// Codec, when set ("H264", "VP8"), is put first in every video
	// transceiver's codec preferences before each local description, so
	// that a native offerer sends that codec. (Chromium as the answerer
	// still sends the offer's first codec.)
	Codec string `json:"codec"`
	// Width, Height and FPS replace the client's camera constraints
	// (640×480, ideal 24 fps) so that Chromium captures what the native
	// peer sends.
	Width  int `json:"width"`
	Height int `json:"height"`
	FPS    int `json:"fps"`
}

// pageScript returns the script run at the start of every document. It
// records in window.__bench the time (performance.now(), ms since
// navigation start) of the first decoded remote video frame (getStats
// polled every 20 ms) and of the first rendered one
// (requestVideoFrameCallback), and applies s.
func pageScript(s pageSetup) string {
	cfg, _ := json.Marshal(s)
	return fmt.Sprintf(`(() => {
  if (window.__bench) return;
  const cfg = %s;
  const b = window.__bench = {decoded: null, rendered: null, armed: null};
  if (cfg.fps && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = (c) => {
      if (c && c.video) c = {...c, video: {width: {ideal: cfg.width}, height: {ideal: cfg.height}, frameRate: {ideal: cfg.fps}}};
      return gum(c);
    };
  }
  if (cfg.codec) {
    const want = 'video/' + cfg.codec.toLowerCase();
    const score = (c) => (c.sdpFmtpLine || '').includes('42e01f') * 2 + (c.sdpFmtpLine || '').includes('packetization-mode=1');
    const prefer = (pc) => {
      const caps = RTCRtpReceiver.getCapabilities('video').codecs;
      const main = caps.filter((c) => c.mimeType.toLowerCase() === want).sort((x, y) => score(y) - score(x));
      const rest = caps.filter((c) => c.mimeType.toLowerCase() !== want);
      for (const t of pc.getTransceivers()) {
        if (t.receiver.track && t.receiver.track.kind === 'video' && t.currentDirection !== 'stopped') {
          try { t.setCodecPreferences([...main, ...rest]); } catch (e) { console.warn('bench: setCodecPreferences', e); }
        }
      }
    };
    for (const name of ['setLocalDescription', 'createOffer', 'createAnswer']) {
      const orig = RTCPeerConnection.prototype[name];
      RTCPeerConnection.prototype[name] = function (...args) { prefer(this); return orig.apply(this, args); };
    }
  }
  const watch = () => {
    const v = document.querySelector('video[data-peer-id]');
    if (v && b.armed !== v && v.requestVideoFrameCallback) {
      b.armed = v;
      v.requestVideoFrameCallback((now) => { if (b.rendered === null) b.rendered = now; });
    }
    if (b.decoded === null && window.videochat) {
      for (const pc of window.videochat.peers().values()) {
        pc.getStats().then((s) => s.forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'video' && r.framesDecoded > 0 && b.decoded === null) b.decoded = performance.now();
        }));
      }
    }
    if (b.decoded === null || b.rendered === null) setTimeout(watch, 20);
  };
  watch();
})();`, cfg)
}

// firstFrameJS evaluates to {TimeOrigin, Decoded, Rendered} (ms) once the
// page has decoded a remote frame, else null.
const firstFrameJS = `window.__bench && window.__bench.decoded !== null ?
  {TimeOrigin: performance.timeOrigin, Decoded: window.__bench.decoded, Rendered: window.__bench.rendered ?? -1} : null`

// countersJS evaluates to the page's media counters summed over its peer
// connections (the shape of pageCounters).
const countersJS = `(async () => {
  const out = {BytesSent: 0, VideoBytesReceived: 0, FramesReceived: 0, Peers: 0, PeersReceiving: 0,
    SendCodec: '', RecvCodec: '', SendFPS: 0, Encoder: ''};
  if (!window.videochat) return out;
  for (const pc of window.videochat.peers().values()) {
    out.Peers++;
    const s = await pc.getStats();
    let frames = 0;
    s.forEach((r) => {
      if (r.type === 'outbound-rtp') {
        out.BytesSent += (r.bytesSent || 0) + (r.headerBytesSent || 0);
        if (r.kind === 'video') {
          out.SendFPS = r.framesPerSecond || out.SendFPS;
          out.Encoder = r.encoderImplementation || out.Encoder;
          const c = s.get(r.codecId); if (c) out.SendCodec = c.mimeType;
        }
      }
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        out.VideoBytesReceived += r.bytesReceived || 0;
        frames += r.framesDecoded || 0;
        const c = s.get(r.codecId); if (c) out.RecvCodec = c.mimeType;
      }
    });
    out.FramesReceived += frames;
    if (frames > 0) out.PeersReceiving++;
  }
  return out;
})()`
