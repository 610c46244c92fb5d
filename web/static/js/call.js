// Call: the room session. It owns the signalling client and one PeerLink per
// remote peer, keeps the roster, and tells the page what happened.

import { PeerLink } from './peer.js';
import { Signaling } from './signaling.js';

/**
 * Call joins room as name. hooks: onPeerJoined(peer), onPeerLeft(peer),
 * onStream(peer, stream), onPeerState(peer, state), onChat(peer, text),
 * onEnded(reason, message), onError(code, message).
 */
export class Call {
  #links = new Map();
  #roster = new Map();
  #iceServers = [];

  constructor({ room, name, relay, media, hooks }) {
    this.room = room;
    this.name = name;
    this.relay = relay;
    this.media = media;
    this.hooks = hooks;
    this.id = null;
    this.signaling = new Signaling({
      room,
      onMessage: (msg) => this.#onMessage(msg),
      onClose: (info) => this.#onClose(info),
    });
  }

  /** join connects and joins; it rejects with a SignalError (e.g. room-full). */
  async join() {
    const welcome = await this.signaling.join(this.name);
    this.id = welcome.id;
    this.#iceServers = welcome.iceServers || [];
    for (const peer of welcome.peers || []) this.#addPeer(peer);
    return welcome;
  }

  #addPeer(peer) {
    this.#roster.set(peer.id, peer);
    this.hooks.onPeerJoined(peer);
  }

  #onMessage(msg) {
    switch (msg.type) {
      case 'peer-joined':
        this.#addPeer(msg.peer);
        this.#link(msg.peer.id, true); // existing peers offer to the newcomer
        break;
      case 'peer-left':
        this.#removePeer(msg.peer.id);
        break;
      case 'offer':
      case 'answer':
      case 'candidate':
        this.#link(msg.from, false)?.handle(msg);
        break;
      case 'error':
        if (msg.code === 'unknown-peer') break; // the target left meanwhile
        this.hooks.onError(msg.code, msg.message);
        break;
      case 'bye':
        break; // the close that follows ends the call
      default:
        console.warn('signalling: unexpected message', msg);
    }
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
      send: (m) => this.signaling.send(m),
      onStream: (stream) => this.hooks.onStream(peer, stream),
      onChat: (text) => this.hooks.onChat(peer, text),
      onState: (state) => this.hooks.onPeerState(peer, state),
    });
    this.#links.set(id, link);
    return link;
  }

  #removePeer(id) {
    const peer = this.#roster.get(id);
    this.#links.get(id)?.close();
    this.#links.delete(id);
    this.#roster.delete(id);
    if (peer) this.hooks.onPeerLeft(peer);
  }

  #closeAll() {
    for (const id of [...this.#roster.keys()]) this.#removePeer(id);
  }

  #onClose({ bye }) {
    this.#closeAll();
    if (bye?.code === 'server-shutdown') this.hooks.onEnded('shutdown', 'The server shut down. The call has ended.');
    else if (bye) this.hooks.onEnded('lost', bye.message || 'The server closed the connection.');
    else this.hooks.onEnded('lost', 'Connection to the server was lost. The call has ended.');
  }

  /** leave leaves the room and closes every connection. */
  leave() {
    this.signaling.leave();
    this.#closeAll();
  }

  /** sendChat sends text to every peer; it returns how many got it. */
  sendChat(text) {
    let n = 0;
    for (const link of this.#links.values()) if (link.sendChat(text)) n++;
    return n;
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
