// Entry point of the call page /room/{room}?name=N[&relay=1].

import { Call } from './call.js';
import { appendChatLine, bindChatForm, setChatEnabled } from './chat.js';
import { bindControls } from './controls.js';
import { LocalMedia, problemText } from './media.js';
import * as ui from './ui.js';

const ENDED_STATES = new Set(['left', 'full', 'lost', 'shutdown', 'error']);

const session = { state: 'idle', call: null };

// Hook for tests and debugging: read-only state, plus restartIce(peerId)
// to force an ICE restart.
window.videochat = Object.freeze({
  get id() { return session.call?.id ?? null; },
  get state() { return session.state; },
  get name() { return session.call?.name ?? null; },
  peers() { return session.call ? session.call.peerConnections() : new Map(); },
  restarts() { return session.call ? session.call.restarts() : 0; },
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
    onError: (code, message) => ui.notice(message || code, { kind: 'error', id: `error-${code}` }),
  };
}

function end(call, reason, message) {
  if (ENDED_STATES.has(session.state)) return;
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

async function start(room, name, relay) {
  document.getElementById('call').hidden = false;
  setState('joining', 'Starting camera…');
  const media = new LocalMedia();
  await media.start();
  ui.showLocal(media.stream);
  const problem = problemText(media);
  if (problem) ui.notice(problem, { kind: 'error', id: 'media' });

  const call = new Call({ room, name, relay, media, hooks: null });
  call.hooks = hooks(call);
  session.call = call;
  setState('joining', 'Joining…');
  try {
    await call.join();
  } catch (err) {
    const reason = err.code === 'room-full' ? 'full' : 'error';
    const message = err.code === 'room-full'
      ? `Room "${room}" is full. Try again later or pick another room.`
      : `Could not join: ${err.message}`;
    end(call, reason, message);
    return;
  }
  setState('joined', `${name} · ${media.problem === 'insecure' || media.problem === 'denied' || media.problem === 'no-device' ? 'receive-only' : 'live'}`);
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
  let name = (params.get('name') || '').trim();
  if (!name) name = await askName();
  localStorage.setItem('videochat.name', name);
  await start(room, name, relay);
}

main().catch((err) => {
  console.error(err);
  setState('error', 'Error');
  ui.notice(`Something went wrong: ${err.message}`, { kind: 'error' });
});
