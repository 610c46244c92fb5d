// Entry point of the call page /room/{room}?name=N[&token=T][&relay=1].

import { Call } from './call.js';
import { appendChatLine, bindChatForm, setChatEnabled } from './chat.js';
import { bindControls } from './controls.js';
import { FileShare } from './files.js';
import { LocalMedia, problemText } from './media.js';
import { Monitor } from './monitor.js';
import * as ui from './ui.js';

const ENDED_STATES = new Set(['left', 'full', 'lost', 'shutdown', 'error', 'unauthorized', 'replaced']);

const session = { state: 'idle', call: null, monitor: null, files: null, states: new Map(), refusals: [] };
const MAX_REFUSALS = 100;

// Hook for tests and debugging: read-only state (id, state, name, relay),
// the peer connections, counters of ICE restarts and signalling reconnects,
// the peers waited for after a resume, plus restartIce(peerId) to force an
// ICE restart.
window.videochat = Object.freeze({
  get id() { return session.call?.id ?? null; },
  get state() { return session.state; },
  get name() { return session.call?.name ?? null; },
  peers() { return session.call ? session.call.peerConnections() : new Map(); },
  restarts() { return session.call ? session.call.restarts() : 0; },
  reconnects() { return session.call ? session.call.reconnects() : 0; },
  absent() { return session.call ? session.call.absent() : []; },
  restartIce(peerId) { return session.call ? session.call.restartIce(peerId) : false; },
  get relay() { return session.call?.relay ?? false; },
  // peerStates: what each peer announced ({mic, camera, screen, max_file}).
  peerStates() { return Object.fromEntries(session.states); },
  // monitor: level, speaking, quality and its numbers, safety code per peer.
  monitor() { return session.monitor ? session.monitor.snapshot() : {}; },
  // files: the transfers of this page; sendFile(blob, name, peerId|'',
  // {corruptAt}) sends one (corruptAt flips that byte after hashing: a
  // test helper for tampered transfers); acceptFiles(bool) answers the
  // next offers without asking.
  files() { return session.files ? session.files.list() : []; },
  sendFile(blob, name, peerId = '', opts = {}) {
    return session.files ? session.files.send(new File([blob], name), peerId, opts) : null;
  },
  fileDigest(id) { return session.files ? session.files.digest(id) : ''; },
  acceptFiles(on) { if (session.files) session.files.autoAccept = on; },
  // refusals: the error messages peers sent back about our messages;
  // sendRaw(peerId, text) sends text as it is on the chat channel (tests).
  refusals() { return session.refusals.slice(); },
  sendRaw(peerId, text) { return session.call?.linkOf(peerId)?.sendRaw(text) ?? false; },
});

function setState(state, status) {
  session.state = state;
  document.body.dataset.state = state;
  ui.setStatus(status);
}

function roomFromPath() {
  const parts = location.pathname.split('/');
  return decodeURIComponent(parts[parts.length - 1] || '');
}

// askName shows the name form and resolves with the name typed.
function askName() {
  const form = document.getElementById('name-form');
  const input = document.getElementById('name-input');
  input.value = localStorage.getItem('videochat.name') || '';
  form.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const name = input.value.trim();
      if (!name) return;
      form.hidden = true;
      const url = new URL(location.href);
      url.searchParams.set('name', name);
      history.replaceState(null, '', url);
      resolve(name);
    });
  });
}

function hooks(call) {
  return {
    onPeerJoined: (peer) => {
      ui.addTile(peer);
      session.files?.refreshTargets?.();
    },
    onPeerLeft: (peer) => {
      session.states.delete(peer.id);
      session.files?.peerLeft(peer);
      ui.removeTile(peer.id);
    },
    onStream: (peer, stream) => ui.setTileStream(peer.id, stream),
    onPeerState: (peer, state) => ui.setTileState(peer.id, state),
    onChat: (peer, text) => appendChatLine(peer.name, text),
    onControl: (peer, msg) => onControl(peer, msg),
    onRefusal: (peer, msg) => recordRefusal(peer, msg),
    onDataChannel: (peer, channel) => session.files?.onChannel(peer, channel),
    onEnded: (reason, message) => end(call, reason, message),
    onRefused: (err) => refused(call, err),
    onError: (code, message) => ui.notice(message || code, { kind: 'error', id: `error-${code}` }),
    onReconnecting: (why) => {
      setState('reconnecting', 'Reconnecting…');
      ui.notice(`${why} Reconnecting…`, { id: 'reconnect', dismissable: false });
    },
    onReconnected: ({ resumed }) => {
      setState('joined', liveStatus(call));
      ui.clearNotice('reconnect');
      if (!resumed) ui.notice('Reconnected as a new participant: the call is set up again.', { id: 'reconnected' });
    },
  };
}

// onControl handles the state and file messages of the chat channel.
function onControl(peer, msg) {
  if (msg.type === 'state') {
    const state = { mic: msg.mic, camera: msg.camera, screen: msg.screen === true, max_file: msg.max_file ?? null };
    session.states.set(peer.id, state);
    ui.setTileMedia(peer.id, state);
    return;
  }
  if (msg.type === 'file-refuse') recordRefusal(peer, { code: msg.code, ref: 'file-offer', message: msg.message });
  session.files?.onControl(peer, msg);
}

function recordRefusal(peer, msg) {
  session.refusals.push({ peer: peer.id, code: msg.code, ref: msg.ref ?? '', message: msg.message ?? '' });
  if (session.refusals.length > MAX_REFUSALS) session.refusals.shift();
}

// localState is the state message this page announces.
function localState(media) {
  return {
    type: 'state',
    mic: media.mic && media.enabled.audio ? 'on' : 'off',
    camera: media.track('video') && media.enabled.video ? 'on' : 'off',
    screen: !!media.screen,
    max_file: session.files ? session.files.maxFile : 0,
  };
}

function liveStatus(call) {
  const p = call.media.problem;
  return `${call.name} · ${['insecure', 'denied', 'no-device', 'viewer'].includes(p) ? 'receive-only' : 'live'}`;
}

// refused ends the call after the server refused a join for good.
function refused(call, err) {
  const reasons = {
    'room-full': ['full', `Room "${call.room}" is full. Try again later or pick another room.`],
    unauthorized: ['unauthorized', 'This link is not valid for this room (or has expired).'],
  };
  const [reason, message] = reasons[err.code] || ['error', `Could not join: ${err.message}`];
  end(call, reason, message);
}

// tokenClaims returns the claims inside a room token (a JWT), or {}. The
// server checks the token; the page only reads the name it will use and
// whether it may publish (so that a viewer is never asked for its camera).
function tokenClaims(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json);
    return claims && typeof claims === 'object' ? claims : {};
  } catch (err) {
    return {};
  }
}

function end(call, reason, message) {
  if (ENDED_STATES.has(session.state)) return;
  call.leave();
  ui.clearNotice('reconnect');
  call.media.stop();
  session.monitor?.stop();
  session.files?.stop();
  ui.removeRemoteTiles();
  setChatEnabled(false);
  for (const id of ['toggle-audio', 'toggle-video', 'share-screen', 'leave']) document.getElementById(id).disabled = true;
  setState(reason, reason === 'left' ? 'Left' : 'Disconnected');
  ui.notice(message, {
    kind: reason === 'left' ? 'info' : 'error',
    id: 'ended',
    action: 'Rejoin',
    onAction: () => location.reload(),
    dismissable: false,
  });
}

// showMediaProblem shows the local preview and says what is not sent.
function showMediaProblem(media) {
  ui.showLocal(media.stream);
  const problem = problemText(media);
  if (problem) ui.notice(problem, { kind: media.problem === 'viewer' ? 'info' : 'error', id: 'media' });
}

async function start(room, name, token, relay, viewer) {
  document.getElementById('call').hidden = false;
  const media = new LocalMedia();
  if (viewer) {
    media.viewOnly();
  } else {
    setState('joining', 'Starting camera…');
    await media.start();
  }
  showMediaProblem(media);

  const call = new Call({ room, name, token, relay, media, hooks: null, localState: () => localState(media) });
  call.hooks = hooks(call);
  session.call = call;
  session.files = new FileShare({
    call, notice: ui.notice, log: appendChatLine, limitOf: (id) => session.states.get(id)?.max_file ?? null,
  });
  session.monitor = new Monitor({ call, ui });
  ui.startLayout();
  setState('joining', 'Joining…');
  try {
    await call.join();
  } catch (err) {
    refused(call, err);
    return;
  }
  if (media.problem === 'viewer') showMediaProblem(media); // the welcome may have said so
  setState('joined', liveStatus(call));
  session.monitor.start();
  session.files.bind();
  bindControls({ media, call });
  bindChatForm((text) => {
    call.sendChat(text);
    appendChatLine(name, text, { self: true });
  });
  document.getElementById('leave').addEventListener('click', () => {
    call.leave();
    end(call, 'left', 'You left the call.');
  });
  window.addEventListener('pagehide', () => call.leave());
}

async function main() {
  const room = roomFromPath();
  document.getElementById('room-name').textContent = room;
  document.title = `${room} · videochat`;
  const params = new URLSearchParams(location.search);
  const relay = params.get('relay') === '1';
  const token = params.get('token') || '';
  // A room token names its holder; the server uses that name.
  const claims = token ? tokenClaims(token) : {};
  let name = (typeof claims.name === 'string' && claims.name.trim()) || (params.get('name') || '').trim();
  if (!name) name = await askName();
  if (!token) localStorage.setItem('videochat.name', name);
  await start(room, name, token, relay, claims.can_publish === false);
}

main().catch((err) => {
  console.error(err);
  setState('error', 'Error');
  ui.notice(`Something went wrong: ${err.message}`, { kind: 'error' });
});
