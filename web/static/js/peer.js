// One RTCPeerConnection to one remote peer, negotiated with the "perfect
// negotiation" pattern. Who offers first is fixed by the protocol: existing
// peers offer to a newcomer (initiator = true on their side); the newcomer
// attaches its tracks only once the first offer has been applied.

import { MAX_MESSAGE_BYTES, parseMessage } from './messages.js';

const CHAT_LABEL = 'chat';
const CHAT_CHANNEL_ID = 0;
const KINDS = ['audio', 'video'];
// DISCONNECTED_GRACE_MS is how long a connection may stay "disconnected"
// before the offering side restarts ICE.
const DISCONNECTED_GRACE_MS = 5000;

/**
 * PeerLink negotiates and carries media and chat to one remote peer.
 *
 * options: selfId, peer {id, name}, iceServers, relay, media (LocalMedia),
 * initiator, send(msg), onStream(stream), onChat(text), onState(state),
 * onGone() (optional: the remote side closed its end, see gone),
 * onOpen() (the chat channel opened: announce our state),
 * onControl(msg) (a valid non-chat message on the chat channel, see
 * messages.js), onDataChannel(channel) (the remote opened a channel, e.g.
 * a file transfer).
 *
 * The initiator (the side that offered first) restarts ICE when the
 * connection fails or stays disconnected for DISCONNECTED_GRACE_MS; the
 * restart offer goes through the usual perfect negotiation.
 */
export class PeerLink {
  #attached = false;
  #closed = false;
  #chatClosed = false;
  #disconnectTimer = null;
  /** restarts counts the ICE restarts this side started. */
  restarts = 0;
  #makingOffer = false;
  #ignoreOffer = false;
  #pending = [];
  #queue = Promise.resolve();

  constructor(opts) {
    this.opts = opts;
    this.peer = opts.peer;
    this.polite = opts.selfId < opts.peer.id;
    this.stream = null;
    this.chat = null;
    this.pc = new RTCPeerConnection({
      iceServers: opts.iceServers || [],
      iceTransportPolicy: opts.relay ? 'relay' : 'all',
    });
    this.#wire();
    if (opts.initiator) this.#attachLocal();
  }

  #wire() {
    const pc = this.pc;
    pc.onnegotiationneeded = () => this.#negotiate();
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.#send({ type: 'candidate', candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] || this.stream || new MediaStream();
      if (!streams[0] && !stream.getTracks().includes(track)) stream.addTrack(track);
      if (stream !== this.stream) {
        this.stream = stream;
        this.opts.onStream(stream);
      }
    };
    pc.ondatachannel = ({ channel }) => this.opts.onDataChannel?.(channel);
    pc.onconnectionstatechange = () => {
      this.opts.onState(pc.connectionState);
      this.#watchConnection(pc.connectionState);
      if (pc.connectionState === 'failed') this.#reportGone();
    };
  }

  // watchConnection restarts ICE on the initiator's side when the
  // connection fails, or stays disconnected past the grace period.
  #watchConnection(state) {
    if (state !== 'disconnected') this.#clearDisconnectTimer();
    if (!this.opts.initiator) return;
    if (state === 'failed') {
      this.restartIce(`connection ${state}`);
    } else if (state === 'disconnected' && !this.#disconnectTimer) {
      this.#disconnectTimer = setTimeout(() => {
        this.#disconnectTimer = null;
        if (this.pc.connectionState === 'disconnected') {
          this.restartIce(`disconnected for ${DISCONNECTED_GRACE_MS / 1000} s`);
        }
      }, DISCONNECTED_GRACE_MS);
    }
  }

  #clearDisconnectTimer() {
    clearTimeout(this.#disconnectTimer);
    this.#disconnectTimer = null;
  }

  /**
   * restartIce restarts ICE now: new credentials and candidates are
   * negotiated through signalling, without rejoining.
   */
  restartIce(reason = 'requested') {
    if (this.pc.signalingState === 'closed') return;
    this.restarts++;
    console.info(`ICE restart #${this.restarts} with ${this.peer.id}: ${reason}`);
    this.pc.restartIce();
  }

  // attachLocal creates the chat channel and sends our tracks. A missing
  // track becomes a recvonly transceiver on the offering side, so a
  // receive-only peer still gets media.
  #attachLocal() {
    this.#attached = true;
    this.chat = this.pc.createDataChannel(CHAT_LABEL, { negotiated: true, id: CHAT_CHANNEL_ID });
    this.chat.onmessage = (ev) => this.#onChatMessage(ev.data);
    this.chat.onopen = () => this.opts.onOpen?.();
    this.chat.onclose = () => {
      this.#chatClosed = true;
      this.#reportGone();
    };
    const { media } = this.opts;
    for (const kind of KINDS) {
      const track = media.track(kind);
      if (track) this.pc.addTrack(track, media.stream);
      else if (this.opts.initiator) this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
  }

  async #negotiate() {
    try {
      this.#makingOffer = true;
      await this.pc.setLocalDescription();
      const desc = this.pc.localDescription;
      this.#send({ type: desc.type, sdp: desc.sdp });
    } catch (err) {
      console.error(`negotiation with ${this.peer.id} failed`, err);
    } finally {
      this.#makingOffer = false;
    }
  }

  /** handle processes one signalling message from the peer, in order. */
  handle(msg) {
    this.#queue = this.#queue
      .then(() => (msg.type === 'candidate' ? this.#onCandidate(msg.candidate) : this.#onDescription(msg)))
      .catch((err) => console.error(`handling ${msg.type} from ${this.peer.id}`, err));
    return this.#queue;
  }

  async #onDescription({ type, sdp }) {
    const pc = this.pc;
    const collision = type === 'offer' && (this.#makingOffer || pc.signalingState !== 'stable');
    this.#ignoreOffer = !this.polite && collision;
    if (this.#ignoreOffer) return;
    await pc.setRemoteDescription({ type, sdp });
    if (!this.#attached) this.#attachLocal();
    await this.#flushCandidates();
    if (type === 'offer') {
      await pc.setLocalDescription();
      this.#send({ type: 'answer', sdp: pc.localDescription.sdp });
    }
  }

  async #onCandidate(candidate) {
    if (!this.pc.remoteDescription) {
      this.#pending.push(candidate);
      return;
    }
    await this.#addCandidate(candidate);
  }

  async #flushCandidates() {
    const queued = this.#pending;
    this.#pending = [];
    for (const c of queued) await this.#addCandidate(c);
  }

  async #addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      if (!this.#ignoreOffer) console.warn(`candidate from ${this.peer.id} refused`, err);
    }
  }

  /**
   * setTrack sends track (or nothing, for null) as our outgoing track of
   * its kind. A transceiver that only received so far starts sending, which
   * renegotiates.
   */
  async setTrack(kind, track) {
    if (!this.#attached) return; // attachLocal will pick up the current track
    for (const tr of this.pc.getTransceivers()) {
      if (tr.receiver.track.kind !== kind || tr.currentDirection === 'stopped') continue;
      await tr.sender.replaceTrack(track);
      if (track && (tr.direction === 'recvonly' || tr.direction === 'inactive')) {
        tr.sender.setStreams(this.opts.media.stream);
        tr.direction = 'sendrecv';
      }
      return;
    }
    if (track) this.pc.addTrack(track, this.opts.media.stream);
  }

  // onChatMessage routes one message of the chat channel: chat lines to
  // onChat, the other known types to onControl. Bad input (binary, over
  // MAX_MESSAGE_BYTES, not JSON, unknown type, bad fields) is answered
  // with an error message and otherwise ignored (PROTOCOL.md).
  #onChatMessage(data) {
    const { msg, error } = parseMessage(data);
    if (error) {
      console.warn(`data channel: refused a message from ${this.peer.id}: ${error.code}: ${error.message}`);
      if (error.reply) this.sendControl(error.reply);
      return;
    }
    if (msg.type === 'chat') this.opts.onChat(msg.text);
    else if (msg.type !== 'error') this.opts.onControl?.(msg);
    else {
      console.warn(`data channel: ${this.peer.id} refused our message: ${msg.code}: ${msg.message}`);
      this.opts.onRefusal?.(msg);
    }
  }

  /** sendRaw sends text as it is on the chat channel (tests: bad input). */
  sendRaw(text) {
    if (this.chat?.readyState !== 'open') return false;
    this.chat.send(text);
    return true;
  }

  /** sendControl sends one message object on the chat channel; false if it is not open. */
  sendControl(msg) {
    if (this.chat?.readyState !== 'open') return false;
    const text = JSON.stringify(msg);
    if (text.length > MAX_MESSAGE_BYTES) return false;
    this.chat.send(text);
    return true;
  }

  /** sendChat sends one chat line; it reports whether the channel was open. */
  sendChat(text) {
    if (this.chat?.readyState !== 'open') return false;
    this.chat.send(JSON.stringify({ type: 'chat', text }));
    return true;
  }

  #send(msg) {
    this.opts.send({ ...msg, to: this.peer.id });
  }

  /**
   * gone reports whether the remote side has closed its end (the chat
   * channel, which both sides open at once, closed) or the connection was
   * closed. A peer that comes back after that needs a new PeerLink. A
   * failed connection is not gone: the initiator restarts ICE. onGone
   * fires on a failure too, for callers that wait for a peer to come back.
   */
  get gone() {
    return this.#chatClosed || this.pc.connectionState === 'closed';
  }

  #reportGone() {
    if (!this.#closed) this.opts.onGone?.();
  }

  /** close ends the connection. */
  close() {
    this.#closed = true;
    this.#clearDisconnectTimer();
    this.chat?.close();
    this.pc.close();
  }
}
