// Monitor: reads getStats() of every connection four times a second and
// derives, per remote peer, who is talking (audio level with hysteresis)
// and the link quality (RTT, loss, received frame rate; once a second).
// It also keeps the safety code of each connection up to date.
//
// Speaking: the level is the RMS of the audio received during the last
// interval (from totalAudioEnergy and totalSamplesDuration; audioLevel as
// a fallback). A peer starts speaking after SPEAK_ON_TICKS intervals at or
// above SPEAK_ON and stops after SPEAK_OFF_TICKS intervals below
// SPEAK_OFF, so the highlight does not flicker between words.
//
// Quality (the native peer uses the same rule, peer/quality.go):
//   poor: RTT > 400 ms, or loss > 5 %, or the camera is on and < 5 fps;
//   fair: RTT > 150 ms, or loss > 1 %, or the camera is on and < 15 fps;
//   good: otherwise.

import { safetyCode } from './safety.js';

const TICK_MS = 250;
const QUALITY_EVERY = 4; // ticks
const SPEAK_ON = 0.02;
const SPEAK_OFF = 0.008;
const SPEAK_ON_TICKS = 2;
const SPEAK_OFF_TICKS = 6;

/** qualityOf grades a link from its numbers (null: unknown, not counted). */
export function qualityOf({ rttMs, lossPct, fps, cameraOn }) {
  const bad = (rtt, loss, f) => (rttMs != null && rttMs > rtt) || (lossPct != null && lossPct > loss)
    || (cameraOn && fps != null && fps < f);
  if (bad(400, 5, 5)) return 'poor';
  if (bad(150, 1, 15)) return 'fair';
  return 'good';
}

/** Monitor watches call's connections; ui receives what it finds. */
export class Monitor {
  #peers = new Map(); // id → per-peer state
  #timer = null;
  #ticks = 0;
  #busy = false;

  constructor({ call, ui }) {
    this.call = call;
    this.ui = ui;
  }

  start() {
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  stop() {
    clearInterval(this.#timer);
  }

  /** snapshot returns what the monitor knows per peer id (for tests). */
  snapshot() {
    const out = {};
    for (const [id, s] of this.#peers) {
      out[id] = { level: s.level, speaking: s.speaking, quality: s.quality, numbers: s.numbers, safetyCode: s.code };
    }
    return out;
  }

  async #tick() {
    if (this.#busy) return; // a slow getStats: skip a beat
    this.#busy = true;
    const withQuality = this.#ticks++ % QUALITY_EVERY === 0;
    try {
      const pcs = this.call.peerConnections();
      for (const id of this.#peers.keys()) if (!pcs.has(id)) this.#peers.delete(id);
      await Promise.all([...pcs].map(([id, pc]) => this.#watch(id, pc, withQuality)));
    } finally {
      this.#busy = false;
    }
  }

  async #watch(id, pc, withQuality) {
    if (pc.connectionState === 'closed') return;
    let s = this.#peers.get(id);
    if (s && s.pc !== pc) { // a new connection to the same peer
      this.#peers.delete(id);
      s = null;
    }
    if (!s) {
      s = { pc, level: 0, speaking: false, above: 0, below: 0, quality: 'good', numbers: null, code: '', prev: null, prevQ: null };
      this.#peers.set(id, s);
    }
    if (!s.code) {
      s.code = await safetyCode(pc);
      if (s.code) this.ui.setTileSafetyCode(id, s.code);
    }
    let report;
    try {
      report = await pc.getStats();
    } catch (err) {
      return;
    }
    const now = { energy: 0, duration: 0, level: null, frames: 0, received: 0, lost: 0, rtt: null, fps: null, t: performance.now() };
    let pairId = '';
    for (const r of report.values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        now.energy += r.totalAudioEnergy || 0;
        now.duration += r.totalSamplesDuration || 0;
        if (typeof r.audioLevel === 'number') now.level = Math.max(now.level ?? 0, r.audioLevel);
      }
      if (r.type === 'inbound-rtp') {
        now.received += r.packetsReceived || 0;
        now.lost += Math.max(0, r.packetsLost || 0);
      }
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        now.frames += r.framesDecoded || 0;
        if (typeof r.framesPerSecond === 'number') now.fps = r.framesPerSecond;
      }
      if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
    }
    const pair = pairId ? report.get(pairId) : [...report.values()].find((r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded');
    if (pair && typeof pair.currentRoundTripTime === 'number') now.rtt = pair.currentRoundTripTime * 1000;
    this.#speaking(id, s, now);
    s.prev = now;
    if (withQuality) this.#quality(id, s, now);
  }

  #speaking(id, s, now) {
    const p = s.prev;
    let level = now.level ?? 0;
    if (p && now.duration > p.duration) level = Math.sqrt(Math.max(0, now.energy - p.energy) / (now.duration - p.duration));
    s.level = level;
    if (level >= SPEAK_ON) {
      s.above++;
      s.below = 0;
    } else if (level < SPEAK_OFF) {
      s.below++;
      s.above = 0;
    }
    // A peer that announced its microphone off is not talking, whatever
    // is still arriving.
    const speaking = !this.ui.micOn(id) ? false : s.speaking ? s.below < SPEAK_OFF_TICKS : s.above >= SPEAK_ON_TICKS;
    if (speaking !== s.speaking) {
      s.speaking = speaking;
      this.ui.setTileSpeaking(id, speaking);
    }
  }

  #quality(id, s, now) {
    const p = s.prevQ;
    s.prevQ = now;
    if (!p) return;
    const dt = (now.t - p.t) / 1000;
    const got = now.received - p.received;
    const lost = now.lost - p.lost;
    const lossPct = got + lost > 0 ? (100 * Math.max(0, lost)) / (got + Math.max(0, lost)) : null;
    const fps = now.fps ?? (dt > 0 ? (now.frames - p.frames) / dt : null);
    const cameraOn = this.ui.cameraOn(id);
    const numbers = {
      rttMs: now.rtt == null ? null : Math.round(now.rtt),
      lossPct: lossPct == null ? null : Math.round(lossPct * 10) / 10,
      fps: fps == null ? null : Math.round(fps),
      cameraOn,
    };
    s.numbers = numbers;
    s.quality = qualityOf(numbers);
    const parts = [
      `RTT ${numbers.rttMs ?? '–'} ms`,
      `loss ${numbers.lossPct ?? '–'} %`,
      cameraOn ? `${numbers.fps ?? '–'} fps` : 'camera off',
    ];
    this.ui.setTileQuality(id, s.quality, parts.join(' · '));
  }
}
