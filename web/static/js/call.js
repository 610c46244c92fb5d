// Call: the room session. It owns the signalling client and one PeerLink per
// remote peer, keeps the roster, resumes the session when the signalling
// connection drops, and tells the page what happened.

import { PeerLink } from './peer.js';
import { BACKOFF_MAX_MS, backoffDelay, fatalJoinError, shouldResume } from './reconnect.js';
import { Signaling } from './signaling.js';

// OUTBOX_MAX bounds the directed messages kept while reconnecting.
const OUTBOX_MAX = 256;
// ORPHAN_MARGIN_MS is how much longer than the server's grace period a peer
// missing from a resumed roster is waited for (a restarted server lists
// only the peers that are back already).
const ORPHAN_MARGIN_MS = 2 * BACKOFF_MAX_MS;
const DEFAULT_GRACE_S = 10;

/**
 * Call joins room as name, with an optional room token. hooks:
 * onPeerJoined(peer), onPeerLeft(peer), onStream(peer, stream),
 * onPeerState(peer, state), onChat(peer, text), onError(code, message),
 * onReconnecting(why), onReconnected({resumed}), onRefused(err) (a
 * reconnect was refused for good), onEnded(reason, message),
 * onControl(peer, msg) (a state or file message, see messages.js),
 * onDataChannel(peer, channel). localState() returns the state message
 * sent to every peer whose chat channel opens (and by sendState).
 *
 * state: 'idle' → 'joining' → 'joined' ⇄ 'reconnecting' → 'ended'.
 *
 * When the signalling connection closes without a leave, the call
 * reconnects with backoff and presents the resume token of the last
 * welcome. Resumed with the same id, every RTCPeerConnection stays; a new
 * id starts the call over. Media never waits for signalling.
 */
export class Call {
  #links = new Map();
  #roster = new Map();
  #orphans = new Map(); // peer id → timer: not in the resumed roster (yet)
  #iceServers = [];
  #resumeToken = '';
  #grace = DEFAULT_GRACE_S;
  #outbox = [];
  #attempt = 0;
  #retryTimer = null;
  #reconnects = 0;
  #over = false;

  constructor({ room, name, token = '', relay, media, hooks, localState = null }) {
    this.localState = localState;
    this.room = room;
    this.name = name;
    this.token = token;
    this.relay = relay;
    this.media = media;
    this.hooks = hooks;
    this.id = null;
    this.state = 'idle';
    this.signaling = new Signaling({
      room,
      onMessage: (msg) => this.#onMessage(msg),
      onClose: (info) => this.#onClose(info),
    });
  }

  /** join connects and joins; it rejects with a SignalError (e.g. room-full). */
  async join() {
    this.state = 'joining';
    let welcome;
    try {
      welcome = await this.signaling.connect(this.#joinFields());
    } catch (err) {
      this.#over = true;
      this.state = 'ended';
      throw err;
    }
    this.#welcomed(welcome);
    for (const peer of welcome.peers || []) this.#addPeer(peer);
    this.state = 'joined';
    return welcome;
  }

  #joinFields() {
    return { name: this.name, token: this.token, resume: this.#resumeToken };
  }

  #welcomed(welcome) {
    // The token does not allow publishing: the server refuses offers and
    // answers that send media, so send none.
    if (welcome.canPublish === false && this.media.problem !== 'viewer') this.media.viewOnly();
    this.id = welcome.id;
    this.#iceServers = welcome.iceServers || [];
    this.#resumeToken = welcome.resumeToken || '';
    this.#grace = welcome.grace || DEFAULT_GRACE_S;
  }

  #addPeer(peer) {
    this.#roster.set(peer.id, peer);
    this.hooks.onPeerJoined(peer);
  }

  #onMessage(msg) {
    switch (msg.type) {
      case 'peer-joined':
        this.#onPeerJoined(msg.peer);
        break;
      case 'peer-left':
        this.#removePeer(msg.peer.id);
        break;
      case 'offer':
      case 'answer':
      case 'candidate':
        this.#onDirected(msg);
        break;
      case 'error':
        if (msg.code === 'unknown-peer') break; // the target left meanwhile
        this.hooks.onError(msg.code, msg.message);
        break;
      case 'bye':
        break; // the close that follows starts the reconnect
      default:
        console.warn('signalling: unexpected message', msg);
    }
  }

  // onPeerJoined dials a newcomer (existing peers offer to the newcomer).
  // A peer we still have a live connection with is the same peer, back
  // after a server restart or its own resume: it keeps its connection and
  // tile.
  #onPeerJoined(peer) {
    this.#unorphan(peer.id);
    const link = this.#links.get(peer.id);
    if (link && !link.gone) return;
    if (link) this.#dropLink(peer.id);
    if (!this.#roster.has(peer.id)) this.#addPeer(peer);
    this.#link(peer.id, true);
  }

  #onDirected(msg) {
    let link = this.#links.get(msg.from);
    if (link?.gone && msg.type === 'offer') {
      this.#dropLink(msg.from); // it dials us again from a new connection
      link = null;
    }
    (link || this.#link(msg.from, false))?.handle(msg);
  }

  // link returns the PeerLink to id, creating it when needed.
  #link(id, initiator) {
    const existing = this.#links.get(id);
    if (existing) return existing;
    const peer = this.#roster.get(id);
    if (!peer) {
      console.warn(`signalling: message from unknown peer ${id}`);
      return null;
    }
    const link = new PeerLink({
      selfId: this.id,
      peer,
      iceServers: this.#iceServers,
      relay: this.relay,
      media: this.media,
      initiator,
      send: (m) => this.#send(m),
      onStream: (stream) => this.hooks.onStream(peer, stream),
      onChat: (text) => this.hooks.onChat(peer, text),
      onState: (state) => this.hooks.onPeerState(peer, state),
      onGone: () => this.#onGone(id),
      onOpen: () => {
        if (this.localState) link.sendControl(this.localState());
      },
      onControl: (msg) => this.hooks.onControl?.(peer, msg),
      onDataChannel: (channel) => this.hooks.onDataChannel?.(peer, channel),
      onRefusal: (msg) => this.hooks.onRefusal?.(peer, msg),
    });
    this.#links.set(id, link);
    return link;
  }

  // send sends a directed message now, or keeps it for the resumed session
  // while reconnecting (or when the socket has just closed: the reconnect
  // follows).
  #send(msg) {
    if (this.state === 'joined' && this.signaling.send(msg)) return;
    if (this.state !== 'reconnecting' && this.state !== 'joined') return;
    this.#outbox.push(msg);
    if (this.#outbox.length > OUTBOX_MAX) this.#outbox.shift();
  }

  #dropLink(id) {
    this.#links.get(id)?.close();
    this.#links.delete(id);
  }

  #removePeer(id) {
    const peer = this.#roster.get(id);
    this.#unorphan(id);
    this.#dropLink(id);
    this.#roster.delete(id);
    if (peer) this.hooks.onPeerLeft(peer);
  }

  #closeAll() {
    for (const id of [...this.#roster.keys()]) this.#removePeer(id);
  }

  #onClose({ code, bye }) {
    if (this.#over) return;
    if (!shouldResume(code)) {
      this.#end('replaced', 'This call was opened again in another window or device, which took it over.');
      return;
    }
    this.state = 'reconnecting';
    this.hooks.onReconnecting(bye?.code === 'server-shutdown'
      ? 'The server shut down; media keeps flowing between you and the others.'
      : 'Lost the connection to the server; media keeps flowing between you and the others.');
    this.#scheduleRetry();
  }

  #scheduleRetry() {
    const delay = backoffDelay(this.#attempt++);
    this.#retryTimer = setTimeout(() => this.#retry(), delay);
  }

  async #retry() {
    this.#retryTimer = null;
    let welcome;
    try {
      welcome = await this.signaling.connect(this.#joinFields());
    } catch (err) {
      if (this.#over) return;
      if (fatalJoinError(err.code)) {
        this.#stop();
        this.hooks.onRefused(err);
        return;
      }
      this.#scheduleRetry();
      return;
    }
    if (this.#over) {
      this.signaling.close();
      return;
    }
    this.#attempt = 0;
    this.#reconnects++;
    const oldId = this.id;
    const resumed = welcome.resumed === true && welcome.id === oldId;
    this.#welcomed(welcome);
    if (resumed) this.#resume(welcome.peers || []);
    else this.#restart((welcome.peers || []).filter((p) => p.id !== oldId));
    this.state = 'joined';
    this.#flushOutbox(resumed);
    this.hooks.onReconnected({ resumed });
  }

  // resume reconciles the connections with the roster of a resumed session.
  // Peers missing from it are kept while their connection lives, for a
  // while: after a server restart they may not be back yet. Listed peers
  // we have no connection with are dialled (perfect negotiation settles a
  // collision with their own offer).
  #resume(peers) {
    const listed = new Map(peers.map((p) => [p.id, p]));
    for (const id of [...this.#roster.keys()]) {
      if (listed.has(id)) continue;
      if (this.#links.has(id) && !this.#links.get(id).gone) this.#orphan(id);
      else this.#removePeer(id);
    }
    for (const peer of listed.values()) {
      this.#unorphan(peer.id);
      if (this.#links.get(peer.id)?.gone) this.#dropLink(peer.id);
      if (!this.#roster.has(peer.id)) this.#addPeer(peer);
      if (!this.#links.has(peer.id)) this.#link(peer.id, true);
    }
    for (const link of this.#links.values()) refreshIceServers(link.pc, this.#iceServers);
  }

  // restart starts over as a newcomer with a new id: the others dial us.
  // Our old id, still held by the server for a while, is left out.
  #restart(peers) {
    this.#closeAll();
    for (const peer of peers) this.#addPeer(peer);
  }

  #flushOutbox(resumed) {
    const queued = this.#outbox;
    this.#outbox = [];
    if (!resumed) return;
    for (const msg of queued) if (this.#links.has(msg.to)) this.signaling.send(msg);
  }

  #orphan(id) {
    if (this.#orphans.has(id)) return;
    const wait = this.#grace * 1000 + ORPHAN_MARGIN_MS;
    this.#orphans.set(id, setTimeout(() => {
      console.info(`peer ${id} did not come back within ${wait} ms`);
      this.#removePeer(id);
    }, wait));
  }

  #unorphan(id) {
    clearTimeout(this.#orphans.get(id));
    this.#orphans.delete(id);
  }

  // onGone removes a peer we were waiting for once its connection ends.
  #onGone(id) {
    if (this.#orphans.has(id)) this.#removePeer(id);
  }

  // stop ends reconnecting and closes every connection.
  #stop() {
    this.#over = true;
    this.state = 'ended';
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#outbox = [];
    this.signaling.close();
    this.#closeAll();
  }

  #end(reason, message) {
    this.#stop();
    this.hooks.onEnded(reason, message);
  }

  /** leave leaves the room and closes every connection. */
  leave() {
    if (!this.#over) this.signaling.leave();
    this.#stop();
  }

  /** sendChat sends text to every peer; it returns how many got it. */
  sendChat(text) {
    let n = 0;
    for (const link of this.#links.values()) if (link.sendChat(text)) n++;
    return n;
  }

  /** sendState sends localState() to every peer. */
  sendState() {
    if (!this.localState) return;
    const msg = this.localState();
    for (const link of this.#links.values()) link.sendControl(msg);
  }

  /** sendControl sends msg to peer id; false if its channel is not open. */
  sendControl(id, msg) {
    return this.#links.get(id)?.sendControl(msg) ?? false;
  }

  /** linkOf returns the PeerLink to peer id, or undefined. */
  linkOf(id) {
    return this.#links.get(id);
  }

  /** setTrack sends track as the outgoing track of kind to every peer. */
  async setTrack(kind, track) {
    await Promise.all([...this.#links.values()].map((l) => l.setTrack(kind, track)));
  }

  /** peerConnections maps peer id to RTCPeerConnection (for tests). */
  peerConnections() {
    return new Map([...this.#links].map(([id, link]) => [id, link.pc]));
  }

  /** restarts returns how many ICE restarts this side started, in total. */
  restarts() {
    let n = 0;
    for (const link of this.#links.values()) n += link.restarts;
    return n;
  }

  /** reconnects returns how many times the signalling connection came back. */
  reconnects() {
    return this.#reconnects;
  }

  /**
   * absent lists the peers kept after a resume whose roster did not name
   * them, while they are waited for (see resume).
   */
  absent() {
    return [...this.#orphans.keys()];
  }

  /** restartIce restarts ICE with peer id now (for tests); false if unknown. */
  restartIce(id) {
    const link = this.#links.get(id);
    if (!link) return false;
    link.restartIce('requested by the page');
    return true;
  }

  /** peers lists the roster. */
  peers() {
    return [...this.#roster.values()];
  }
}

// refreshIceServers gives a connection the ICE servers of the latest
// welcome (TURN credentials may have been renewed), for later restarts.
function refreshIceServers(pc, iceServers) {
  if (pc.signalingState === 'closed') return;
  try {
    pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
  } catch (err) {
    console.warn('could not update the ICE servers', err);
  }
}
