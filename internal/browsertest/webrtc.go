package browsertest

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The helpers in this file read the videochat client's debugging hook,
// window.videochat (id, state, peers(): Map of peer id → RTCPeerConnection),
// and the remote <video data-peer-id="ID"> elements of its DOM contract.

// FramesDecoded returns the video frames decoded so far from peer id, as
// getStats() reports them (inbound-rtp, kind video). It returns -1 when the
// page has no connection to that peer.
func (p *Page) FramesDecoded(peerID string) (int, error) {
	return EvalErr[int](p, fmt.Sprintf(`(async () => {
		const pc = window.videochat && window.videochat.peers().get(%s);
		if (!pc) return -1;
		let n = 0;
		(await pc.getStats()).forEach((r) => {
			if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0;
		});
		return n;
	})()`, strconv.Quote(peerID)))
}

// WaitFramesDecoded waits until more than n frames from peer id are decoded.
func (p *Page) WaitFramesDecoded(peerID string, n int) {
	p.t.Helper()
	p.WaitFor(fmt.Sprintf("> %d frames decoded from %s", n, peerID),
		fmt.Sprintf(`window.videochat && window.videochat.peers().get(%s) &&
			window.videochat.peers().get(%[1]s).getStats().then((s) => {
				let n = 0;
				s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded || 0; });
				return n > %d;
			})`, strconv.Quote(peerID), n), 0)
}

// lumaJS returns a JavaScript expression that draws the current frame of the
// <video> matching selector into a canvas and evaluates to {Mean, StdDev,
// Err} of its luma (0–255).
func lumaJS(selector string) string {
	return fmt.Sprintf(`(() => {
		const v = document.querySelector(%s);
		if (!v) return {Err: 'no element'};
		if (!v.videoWidth || !v.videoHeight) return {Err: 'video has no frame yet'};
		const w = 160, h = Math.max(1, Math.round(160 * v.videoHeight / v.videoWidth));
		const c = document.createElement('canvas');
		c.width = w; c.height = h;
		const g = c.getContext('2d', {willReadFrequently: true});
		g.drawImage(v, 0, 0, w, h);
		const d = g.getImageData(0, 0, w, h).data;
		let sum = 0, sq = 0;
		const n = w * h;
		for (let i = 0; i < d.length; i += 4) {
			const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
			sum += y; sq += y * y;
		}
		const mean = sum / n;
		return {Mean: mean, StdDev: Math.sqrt(Math.max(0, sq / n - mean * mean)), Err: ''};
	})()`, strconv.Quote(selector))
}

// VideoLuma draws the current frame of the <video> matching the CSS selector
// into a canvas and returns the mean and standard deviation of its luma
// (0–255). A black or blank frame has a standard deviation near 0.
func (p *Page) VideoLuma(selector string) (mean, stddev float64, err error) {
	type luma struct {
		Mean, StdDev float64
		Err          string
	}
	l, err := EvalErr[luma](p, lumaJS(selector))
	if err != nil {
		return 0, 0, err
	}
	if l.Err != "" {
		return 0, 0, fmt.Errorf("%s: %s", selector, l.Err)
	}
	return l.Mean, l.StdDev, nil
}

// MinLumaStdDev is the luma standard deviation above which a frame counts
// as showing a picture rather than a flat (black) surface.
const MinLumaStdDev = 5

// WaitNonBlack waits until the <video> matching selector is playing a frame
// whose luma standard deviation exceeds MinLumaStdDev, and returns the
// standard deviation measured then.
func (p *Page) WaitNonBlack(selector string) float64 {
	p.t.Helper()
	cond := fmt.Sprintf(`(() => {
		const v = document.querySelector(%s);
		return v && !v.paused && %s.StdDev > %d;
	})()`, strconv.Quote(selector), lumaJS(selector), MinLumaStdDev)
	if _, err := p.Wait(cond, 0); err != nil {
		_, sd, lerr := p.VideoLuma(selector)
		p.t.Fatalf("%s: %s shows no picture: luma stddev %.2f (%v): %v", p.name, selector, sd, lerr, err)
	}
	_, sd, err := p.VideoLuma(selector)
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return sd
}

// StatsSummary returns, for each peer connection on the page, its states,
// the selected candidate pair, codecs and inbound/outbound RTP counters, as
// indented JSON.
func (p *Page) StatsSummary() (string, error) {
	raw, err := EvalErr[json.RawMessage](p, `(async () => {
		if (!window.videochat) return {error: 'no window.videochat hook'};
		const out = {id: window.videochat.id, state: window.videochat.state, peers: {}};
		for (const [id, pc] of window.videochat.peers()) {
			const s = await pc.getStats();
			const p = {connection: pc.connectionState, ice: pc.iceConnectionState, signaling: pc.signalingState, rtp: [], pair: null, codecs: []};
			s.forEach((r) => {
				if (r.type === 'inbound-rtp' || r.type === 'outbound-rtp') {
					p.rtp.push({type: r.type, kind: r.kind, packets: r.packetsReceived ?? r.packetsSent,
						framesDecoded: r.framesDecoded, framesEncoded: r.framesEncoded,
						frameWidth: r.frameWidth, frameHeight: r.frameHeight});
				}
				if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') {
					const l = s.get(r.localCandidateId), rc = s.get(r.remoteCandidateId);
					p.pair = {local: l && (l.address + ':' + l.port + ' ' + l.candidateType),
						remote: rc && (rc.address + ':' + rc.port + ' ' + rc.candidateType), rtt: r.currentRoundTripTime};
				}
				if (r.type === 'codec') p.codecs.push(r.mimeType);
			});
			out.peers[id] = p;
		}
		return out;
	})()`)
	if err != nil {
		return "", err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw), nil
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b), nil
}

// MaxBitrateJS returns JavaScript that caps every video sender of the
// videochat page at bps (encodings[0].maxBitrate) and evaluates to the
// number of senders changed. Plain text, for any page driver.
func MaxBitrateJS(bps int) string {
	return fmt.Sprintf(`(async () => {
  let n = 0;
  for (const pc of window.videochat.peers().values()) {
    for (const s of pc.getSenders()) {
      if (!s.track || s.track.kind !== 'video') continue;
      const p = s.getParameters();
      if (!p.encodings || !p.encodings.length) continue;
      p.encodings[0].maxBitrate = %d;
      await s.setParameters(p);
      n++;
    }
  }
  return n;
})()`, bps)
}
