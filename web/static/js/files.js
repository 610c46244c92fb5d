// File sharing over data channels (PROTOCOL.md, "Files"). The path of one
// transfer, sender to receiver:
//
//   sender: hash the file in chunks (SHA-256) → file-offer on the chat
//     channel {id, name, size, sha256}; no offer above the receiver's
//     announced max_file;
//   receiver: refuses (file-refuse {code}) or accepts (file-accept);
//   sender: opens data channel "file:<id>" and streams the bytes in
//     CHUNK-byte binary messages, never more than HIGH_WATER buffered;
//   receiver: hashes as bytes arrive and keeps them in a Blob (which the
//     browser may page to disk); at size bytes it compares the hash: a
//     match is offered as a download, a mismatch is discarded; either way
//     it answers file-result {ok, code}; the sender then closes.
//
// Neither side holds the whole file in memory: the sender reads CHUNK-sized
// slices of the File, the receiver folds chunks into a Blob.

import { MAX_FILE_NAME } from './messages.js';
import { Sha256 } from './sha256.js';

const CHUNK = 16 * 1024;
const READ = 256 * 1024; // bytes read from the File at once
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
const FOLD_EVERY = 64; // chunks kept as ArrayBuffers before folding into the Blob
/** DEFAULT_MAX_FILE is the size limit this page announces (bytes). */
export const DEFAULT_MAX_FILE = 4 * 1024 ** 3;
const MAX_INCOMING = 8; // transfers offered to us at once, per page

const newId = () => [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');

export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do { v /= 1024; u++; } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** safeName returns a file name safe to offer as a download name. */
export function safeName(name) {
  const base = String(name).split(/[\\/]/).pop().replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '_').replace(/^[.\s]+/, '').trim();
  return (base || 'file').slice(0, MAX_FILE_NAME);
}

/**
 * FileShare sends and receives files for one call. Transfers are listed by
 * list() for the page and tests: {id, dir, peer, name, size, sha256,
 * bytes, state, code, url}. state: offered → sending|receiving → done |
 * failed | refused.
 */
export class FileShare {
  #transfers = new Map(); // `${dir}:${peerId}:${id}` → transfer
  autoAccept = false;
  maxFile = DEFAULT_MAX_FILE;

  constructor({ call, notice, log, limitOf }) {
    this.call = call;
    this.limitOf = limitOf;
    this.notice = notice;
    this.log = log;
  }

  /** bind wires the attach button, #file-input, the target select and drag and drop. */
  bind() {
    const input = document.getElementById('file-input');
    input.disabled = false;
    input.addEventListener('change', () => {
      for (const f of input.files) this.send(f, this.#target());
      input.value = '';
    });
    document.addEventListener('dragover', (ev) => {
      if (ev.dataTransfer?.types?.includes('Files')) ev.preventDefault();
    });
    document.addEventListener('drop', (ev) => {
      if (!ev.dataTransfer?.files?.length) return;
      ev.preventDefault();
      for (const f of ev.dataTransfer.files) this.send(f, this.#target());
    });
    const select = document.getElementById('file-target');
    const fill = () => {
      const cur = select.value;
      select.replaceChildren(new Option('Send files to everyone', ''),
        ...this.call.peers().map((p) => new Option(`Send files to ${p.name}`, p.id)));
      select.value = [...select.options].some((o) => o.value === cur) ? cur : '';
    };
    fill();
    select.addEventListener('focus', fill);
    this.refreshTargets = fill;
  }

  #target() {
    return document.getElementById('file-target')?.value || '';
  }

  stop() {
    for (const t of this.#transfers.values()) t.channel?.close();
  }

  list() {
    return [...this.#transfers.values()].map(({ id, dir, peer, name, size, sha256, bytes, state, code, url }) => ({
      id, dir, peer: peer.id, peerName: peer.name, name, size, sha256, bytes, state, code, url,
    }));
  }

  /** digest hashes a received file again with WebCrypto (tests), or ''. */
  async digest(id) {
    const t = [...this.#transfers.values()].find((x) => x.dir === 'in' && x.id === id && x.final);
    if (!t) return '';
    const d = await crypto.subtle.digest('SHA-256', await t.final.arrayBuffer());
    return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
  }

  /**
   * send offers file to peer id, or to every peer when id is ''. opts
   * .corruptAt flips the byte at that offset after hashing (tests only).
   * It resolves with the transfer ids.
   */
  async send(file, peerId = '', opts = {}) {
    const peers = this.call.peers().filter((p) => !peerId || p.id === peerId);
    if (!peers.length) {
      this.notice('Nobody to send the file to.', { id: 'file-none' });
      return [];
    }
    const hash = new Sha256();
    for (let off = 0; off < file.size; off += READ) hash.update(await file.slice(off, off + READ).arrayBuffer());
    const sha256 = hash.hex();
    const ids = [];
    for (const peer of peers) {
      const t = this.#add({ id: newId(), dir: 'out', peer, name: safeName(file.name), size: file.size, sha256, file, opts });
      ids.push(t.id);
      const limit = this.limitOf(peer.id);
      if (typeof limit === 'number' && file.size > limit) {
        this.#finish(t, 'refused', 'too-large', `${peer.name} accepts files up to ${formatSize(limit)}`);
        continue;
      }
      const ok = this.call.sendControl(peer.id, { type: 'file-offer', id: t.id, name: t.name, size: t.size, sha256 });
      if (!ok) this.#finish(t, 'failed', 'not-connected', `not connected to ${peer.name}`);
    }
    return ids;
  }

  #add(t) {
    Object.assign(t, { bytes: 0, state: 'offered', code: '', url: '' });
    t.row = this.#row(t);
    this.#transfers.set(`${t.dir}:${t.peer.id}:${t.id}`, t);
    return t;
  }

  // row shows a transfer in the chat log: what, with whom, a progress bar.
  #row(t) {
    const li = document.createElement('li');
    li.className = `file ${t.dir}`;
    li.dataset.fileId = t.id;
    const text = document.createElement('span');
    const bar = document.createElement('progress');
    bar.max = Math.max(t.size, 1);
    bar.value = 0;
    li.append(text, ' ', bar);
    document.getElementById('chat-log').append(li);
    li.scrollIntoView({ block: 'nearest' });
    const update = () => {
      const who = t.dir === 'out' ? `to ${t.peer.name}` : `from ${t.peer.name}`;
      text.textContent = `📎 ${t.name} (${formatSize(t.size)}) ${who}: ${t.state}${t.detail ? ` — ${t.detail}` : ''}`;
      bar.value = t.bytes;
      bar.hidden = t.state !== 'sending' && t.state !== 'receiving';
      li.dataset.state = t.state;
    };
    update();
    return { li, update };
  }

  #finish(t, state, code = '', detail = '') {
    t.state = state;
    t.code = code;
    t.detail = detail;
    t.row.update();
    // The receiver leaves a verified transfer's channel to the sender to
    // close, so that the close cannot overtake the file-result.
    if (t.channel && t.channel.readyState !== 'closed' && !(t.dir === 'in' && state === 'done')) t.channel.close();
    t.parts = null;
    t.hash = null;
  }

  /** onControl handles a file message from peer (already validated). */
  onControl(peer, msg) {
    switch (msg.type) {
      case 'file-offer':
        this.#onOffer(peer, msg);
        break;
      case 'file-accept': {
        const t = this.#transfers.get(`out:${peer.id}:${msg.id}`);
        if (t?.state === 'offered') this.#stream(t);
        break;
      }
      case 'file-refuse': {
        const t = this.#transfers.get(`out:${peer.id}:${msg.id}`);
        if (t && t.state !== 'done') this.#finish(t, 'refused', msg.code, msg.message || msg.code);
        break;
      }
      case 'file-result': {
        const t = this.#transfers.get(`out:${peer.id}:${msg.id}`);
        if (!t) break;
        if (msg.ok) this.#finish(t, 'done', '', 'delivered, SHA-256 verified');
        else this.#finish(t, 'failed', msg.code || 'failed', msg.message || msg.code || 'the receiver reported a failure');
        break;
      }
      case 'file-cancel': {
        const t = this.#transfers.get(`in:${peer.id}:${msg.id}`);
        if (t && (t.state === 'offered' || t.state === 'receiving')) this.#finish(t, 'failed', 'cancelled', 'cancelled by the sender');
        break;
      }
    }
  }

  #refuse(peer, id, code, message) {
    this.call.sendControl(peer.id, { type: 'file-refuse', id, code, message });
  }

  #onOffer(peer, msg) {
    if (msg.size > this.maxFile) {
      this.#refuse(peer, msg.id, 'too-large', `files up to ${this.maxFile} bytes`);
      this.log(peer.name, `offered ${safeName(msg.name)} (${formatSize(msg.size)}): refused, larger than ${formatSize(this.maxFile)}`);
      return;
    }
    if (this.#transfers.has(`in:${peer.id}:${msg.id}`)) {
      this.#refuse(peer, msg.id, 'duplicate', 'this transfer id was offered before');
      return;
    }
    const active = [...this.#transfers.values()].filter((t) => t.dir === 'in' && (t.state === 'offered' || t.state === 'receiving'));
    if (active.length >= MAX_INCOMING) {
      this.#refuse(peer, msg.id, 'busy', `at most ${MAX_INCOMING} incoming transfers at once`);
      return;
    }
    const t = this.#add({ id: msg.id, dir: 'in', peer, name: safeName(msg.name), size: msg.size, sha256: msg.sha256 });
    if (this.autoAccept) {
      this.#accept(t);
      return;
    }
    const n = this.notice(`${peer.name} sends you ${t.name} (${formatSize(t.size)}).`, {
      id: `file-${t.id}`,
      action: 'Accept',
      onAction: () => this.#accept(t),
      dismissable: false,
    });
    const refuse = document.createElement('button');
    refuse.type = 'button';
    refuse.textContent = 'Refuse';
    refuse.dataset.action = 'refuse';
    refuse.addEventListener('click', () => {
      n.remove();
      this.#refuse(peer, t.id, 'refused', 'the receiver refused the file');
      this.#finish(t, 'refused', 'refused', 'you refused it');
    });
    n.append(refuse);
  }

  #accept(t) {
    if (t.state !== 'offered') return;
    t.hash = new Sha256();
    t.parts = [];
    t.blob = new Blob([]);
    t.state = 'receiving';
    t.row.update();
    if (!this.call.sendControl(t.peer.id, { type: 'file-accept', id: t.id })) this.#finish(t, 'failed', 'not-connected');
    else if (t.size === 0) this.#complete(t);
  }

  /** onChannel takes a data channel the peer opened: file:<id> of an accepted transfer. */
  onChannel(peer, channel) {
    const m = /^file:([A-Za-z0-9_-]{1,64})$/.exec(channel.label);
    const t = m && this.#transfers.get(`in:${peer.id}:${m[1]}`);
    if (!t || t.state !== 'receiving' || t.channel) {
      channel.close();
      return;
    }
    t.channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.onmessage = (ev) => this.#onChunk(t, ev.data);
    channel.onclose = () => {
      if (t.state === 'receiving') this.#fail(t, 'incomplete', `the channel closed after ${t.bytes} of ${t.size} bytes`);
    };
  }

  #onChunk(t, data) {
    if (t.state !== 'receiving') return;
    if (!(data instanceof ArrayBuffer)) {
      this.#fail(t, 'bad-chunk', 'file data must be binary');
      return;
    }
    if (t.bytes + data.byteLength > t.size) {
      this.#fail(t, 'size-mismatch', `more than the ${t.size} bytes announced`);
      return;
    }
    t.hash.update(data);
    t.parts.push(data);
    t.bytes += data.byteLength;
    if (t.parts.length >= FOLD_EVERY) {
      t.blob = new Blob([t.blob, ...t.parts]);
      t.parts = [];
    }
    t.row.update();
    if (t.bytes === t.size) this.#complete(t);
  }

  #complete(t) {
    const got = t.hash.hex();
    if (got !== t.sha256) {
      this.#fail(t, 'hash-mismatch', 'the SHA-256 does not match the one announced: the file was discarded');
      return;
    }
    const blob = new Blob([t.blob, ...t.parts]);
    t.final = blob;
    t.url = URL.createObjectURL(blob);
    t.received = got;
    this.call.sendControl(t.peer.id, { type: 'file-result', id: t.id, ok: true });
    this.#finish(t, 'done', '', 'SHA-256 verified');
    const a = document.createElement('a');
    a.href = t.url;
    a.download = t.name;
    a.textContent = 'save';
    t.row.li.append(' ', a);
  }

  #fail(t, code, detail) {
    this.call.sendControl(t.peer.id, { type: 'file-result', id: t.id, ok: false, code, message: detail });
    t.blob = null;
    this.#finish(t, 'failed', code, detail);
  }

  // stream sends an accepted transfer on its own channel.
  #stream(t) {
    const link = this.call.linkOf(t.peer.id);
    if (!link) {
      this.#finish(t, 'failed', 'not-connected');
      return;
    }
    t.state = 'sending';
    t.row.update();
    const ch = link.pc.createDataChannel(`file:${t.id}`, { ordered: true });
    t.channel = ch;
    ch.binaryType = 'arraybuffer';
    ch.bufferedAmountLowThreshold = LOW_WATER;
    ch.onopen = () => this.#pump(t, ch).catch((err) => {
      if (t.state === 'sending') this.#finish(t, 'failed', 'send-failed', err.message);
    });
    ch.onclose = () => {
      if (t.state === 'sending') this.#finish(t, 'failed', 'closed', 'the channel closed before the receiver confirmed');
    };
  }

  async #pump(t, ch) {
    const drained = () => new Promise((resolve) => {
      ch.addEventListener('bufferedamountlow', resolve, { once: true });
      ch.addEventListener('close', resolve, { once: true });
    });
    const corruptAt = t.opts?.corruptAt;
    for (let off = 0; off < t.size; off += READ) {
      const buf = new Uint8Array(await t.file.slice(off, off + READ).arrayBuffer());
      if (typeof corruptAt === 'number' && corruptAt >= off && corruptAt < off + buf.length) buf[corruptAt - off] ^= 0xff;
      for (let i = 0; i < buf.length; i += CHUNK) {
        if (t.state !== 'sending' || ch.readyState !== 'open') return;
        if (ch.bufferedAmount > HIGH_WATER) await drained();
        if (t.state !== 'sending' || ch.readyState !== 'open') return;
        ch.send(buf.subarray(i, i + CHUNK));
        t.bytes = off + Math.min(i + CHUNK, buf.length);
        t.row.update();
      }
    }
    t.detail = 'sent; waiting for the receiver to verify';
    t.row.update();
  }

  /** peerLeft fails the transfers with peer. */
  peerLeft(peer) {
    for (const t of this.#transfers.values()) {
      if (t.peer.id === peer.id && ['offered', 'sending', 'receiving'].includes(t.state)) {
        t.blob = null;
        document.querySelector(`[data-notice-id="file-${CSS.escape(t.id)}"]`)?.remove();
        this.#finish(t, 'failed', 'peer-left', `${peer.name} left`);
      }
    }
  }
}
