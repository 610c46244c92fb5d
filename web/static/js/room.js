// Entry point of the call page /room/{room}?name=N[&token=T][&relay=1].

import { Call } from './call.js';
import { appendChatLine, bindChatForm, setChatEnabled } from './chat.js';
import { bindControls } from './controls.js';
import { LocalMedia, problemText } from './media.js';
import * as ui from './ui.js';

const ENDED_STATES = new Set(['left', 'full', 'lost', 'shutdown', 'error', 'unauthorized', 'replaced']);

const session = { state: 'idle', call: null };

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
    onPeerJoined: (peer) => ui.addTile(peer),
    onPeerLeft: (peer) => ui.removeTile(peer.id),
    onStream: (peer, stream) => ui.setTileStream(peer.id, stream),
    onPeerState: (peer, state) => ui.setTileState(peer.id, state),
    onChat: (peer, text) => appendChatLine(peer.name, text),
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

function liveStatus(call) {
  const p = call.media.problem;
  return `${call.name} · ${p === 'insecure' || p === 'denied' || p === 'no-device' ? 'receive-only' : 'live'}`;
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

// tokenName returns the display name inside a room token (a JWT), or ''.
// The server checks the token; this only shows the name it will use.
function tokenName(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const name = JSON.parse(json).name;
    return typeof name === 'string' ? name.trim() : '';
  } catch (err) {
    return '';
  }
}

function end(call, reason, message) {
  if (ENDED_STATES.has(session.state)) return;
  call.leave();
  ui.clearNotice('reconnect');
  call.media.stop();
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

async function start(room, name, token, relay) {
  document.getElementById('call').hidden = false;
  setState('joining', 'Starting camera…');
  const media = new LocalMedia();
  await media.start();
  ui.showLocal(media.stream);
  const problem = problemText(media);
  if (problem) ui.notice(problem, { kind: 'error', id: 'media' });

  const call = new Call({ room, name, token, relay, media, hooks: null });
  call.hooks = hooks(call);
  session.call = call;
  setState('joining', 'Joining…');
  try {
    await call.join();
  } catch (err) {
    refused(call, err);
    return;
  }
  setState('joined', liveStatus(call));
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
  let name = (token && tokenName(token)) || (params.get('name') || '').trim();
  if (!name) name = await askName();
  if (!token) localStorage.setItem('videochat.name', name);
  await start(room, name, token, relay);
}

main().catch((err) => {
  console.error(err);
  setState('error', 'Error');
  ui.notice(`Something went wrong: ${err.message}`, { kind: 'error' });
});
