// DOM helpers: tiles, notices and status. The DOM contract the tests and
// outside tools rely on: each remote peer is a <figure class="tile remote">
// holding <video data-peer-id="ID" data-peer-name="NAME">; the figure
// carries data-mic and data-camera ("on"/"off", as the peer announced),
// data-speaking ("true"/"false"), data-quality ("good"/"fair"/"poor") and
// data-safety-code (see safety.js; "" until both descriptions are set).

import { watchLayout } from './layout.js';

const tiles = () => document.getElementById('tiles');

/** startLayout lays the tiles out from now on (layout.js). */
export function startLayout() {
  watchLayout(tiles());
  bindTileActions(document.querySelector('#tiles figure.local'));
}

function tileOf(id) {
  return tiles().querySelector(`figure[data-peer-id="${CSS.escape(id)}"]`);
}

const MIC_OFF_SVG = '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path fill="currentColor" d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z"/><path stroke="currentColor" stroke-width="2.2" d="M4 3l16 18"/></svg>';

function el(tag, className, text = '') {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

/** addTile shows a tile for peer {id, name}; it returns the <video>. */
export function addTile(peer) {
  const existing = tileOf(peer.id);
  if (existing) return existing.querySelector('video');
  const fig = el('figure', 'tile remote');
  Object.assign(fig.dataset, {
    peerId: peer.id, mic: 'on', camera: 'on', screen: 'false', speaking: 'false', quality: 'good', safetyCode: '',
  });
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = false;
  video.dataset.peerId = peer.id;
  video.dataset.peerName = peer.name;
  const avatar = el('div', 'avatar', peer.name);
  avatar.setAttribute('aria-hidden', 'true');
  const label = el('figcaption', 'label');
  const mic = el('span', 'mic-off');
  mic.innerHTML = MIC_OFF_SVG;
  mic.title = 'Microphone muted';
  label.append(mic, el('span', 'name', peer.name));
  const state = el('span', 'conn-state', 'connecting…');
  const quality = el('span', 'quality');
  quality.tabIndex = 0;
  quality.setAttribute('role', 'img');
  quality.setAttribute('aria-label', 'link quality: good');
  quality.append(el('span', 'bars'), el('span', 'quality-detail', 'measuring…'));
  const safety = el('span', 'safety');
  safety.tabIndex = 0;
  safety.title = 'Safety code of this connection: compare it aloud with what the other person sees';
  const actions = el('div', 'tile-actions');
  fig.append(video, avatar, label, state, quality, safety, actions);
  bindTileActions(fig);
  tiles().append(fig);
  return video;
}

// bindTileActions adds the pin, full-screen and picture-in-picture buttons.
function bindTileActions(fig) {
  if (!fig || fig.querySelector('.tile-actions button')) return;
  let actions = fig.querySelector('.tile-actions');
  if (!actions) {
    actions = el('div', 'tile-actions');
    fig.append(actions);
  }
  const video = fig.querySelector('video');
  const pin = tileButton('pin', 'Pin', 'Pin', () => pinTile(fig.dataset.pinned === 'true' ? null : fig, true));
  const full = tileButton('fullscreen', 'Full', 'Full screen', () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else fig.requestFullscreen?.().catch(() => {});
  });
  actions.append(pin, full);
  if (document.pictureInPictureEnabled) {
    actions.append(tileButton('pip', 'PiP', 'Picture in picture', () => {
      if (document.pictureInPictureElement === video) document.exitPictureInPicture().catch(() => {});
      else video.requestPictureInPicture().catch((err) => notice(`Picture in picture failed: ${err.message}`, { id: 'pip' }));
    }));
  }
}

function tileButton(action, symbol, label, onClick) {
  const b = el('button', '', symbol);
  b.type = 'button';
  b.dataset.action = action;
  b.title = label;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

/**
 * pinTile pins fig (large, the others in a strip) or unpins all (null). A
 * pin by the user (byUser) sticks; an automatic one (a screen share)
 * does not override it.
 */
export function pinTile(fig, byUser = false) {
  const current = tiles().querySelector('figure[data-pinned="true"]');
  if (!byUser && current?.dataset.pinnedBy === 'user') return;
  for (const t of tiles().querySelectorAll('figure.tile')) {
    const on = t === fig;
    t.dataset.pinned = String(on);
    if (on) t.dataset.pinnedBy = byUser ? 'user' : 'auto';
    else delete t.dataset.pinnedBy;
    t.querySelector('[data-action=pin]')?.setAttribute('aria-pressed', String(on));
  }
}

/**
 * setTileMedia shows what peer id announced: {mic, camera, screen}. A
 * camera that is off shows the name in place of the video; a screen share
 * is pinned until it ends (unless the user pinned another tile).
 */
export function setTileMedia(id, { mic, camera, screen = false }) {
  const fig = tileOf(id);
  if (!fig) return;
  const wasScreen = fig.dataset.screen === 'true';
  fig.dataset.mic = mic;
  fig.dataset.camera = camera;
  fig.dataset.screen = String(screen);
  fig.querySelector('.label').title = mic === 'off' ? 'microphone muted' : '';
  if (screen && !wasScreen) pinTile(fig);
  if (!screen && wasScreen && fig.dataset.pinnedBy === 'auto') pinTile(null);
}

/** cameraOn reports whether peer id announced its camera on. */
export function cameraOn(id) {
  return tileOf(id)?.dataset.camera !== 'off';
}

/** micOn reports whether peer id announced its microphone on. */
export function micOn(id) {
  return tileOf(id)?.dataset.mic !== 'off';
}

/** setTileSpeaking shows whether peer id is talking. */
export function setTileSpeaking(id, speaking) {
  const fig = tileOf(id);
  if (fig && fig.dataset.speaking !== String(speaking)) fig.dataset.speaking = String(speaking);
}

/** setTileQuality shows the link quality of peer id and its numbers. */
export function setTileQuality(id, quality, detail) {
  const fig = tileOf(id);
  if (!fig) return;
  fig.dataset.quality = quality;
  const q = fig.querySelector('.quality');
  q.setAttribute('aria-label', `link quality: ${quality}; ${detail}`);
  q.querySelector('.quality-detail').textContent = `${quality} · ${detail}`;
}

/** setTileSafetyCode shows the safety code of the connection to peer id. */
export function setTileSafetyCode(id, code) {
  const fig = tileOf(id);
  if (!fig || fig.dataset.safetyCode === code) return;
  fig.dataset.safetyCode = code;
  const el = fig.querySelector('.safety');
  el.textContent = code;
  el.setAttribute('aria-label', `safety code ${code}`);
}

/** removeTile removes the tile of peer id. */
export function removeTile(id) {
  const fig = tileOf(id);
  if (!fig) return;
  const video = fig.querySelector('video');
  video.srcObject = null;
  fig.remove();
}

/** removeRemoteTiles removes every remote tile. */
export function removeRemoteTiles() {
  for (const fig of tiles().querySelectorAll('figure.remote')) removeTile(fig.dataset.peerId);
}

/** setTileStream plays stream in the tile of peer id. */
export function setTileStream(id, stream) {
  const video = tileOf(id)?.querySelector('video');
  if (!video) return;
  video.srcObject = stream;
  play(video);
}

/** setTileState shows the connection state of peer id. */
export function setTileState(id, state) {
  const el = tileOf(id)?.querySelector('.conn-state');
  if (!el) return;
  el.textContent = state === 'connected' ? '' : state === 'disconnected' ? 'reconnecting…' : state;
}

// play starts a video; when the browser blocks unmuted autoplay, it asks the
// user for the click that allows sound.
function play(video) {
  video.play().catch((err) => {
    if (err.name !== 'NotAllowedError') return;
    notice('Your browser blocked sound until you interact with the page.', {
      id: 'autoplay',
      action: 'Enable sound',
      onAction: () => document.querySelectorAll('video').forEach((v) => v.play().catch(() => {})),
    });
  });
}

/**
 * showLocal plays stream in the muted local preview. The camera is shown
 * mirrored, as in a mirror; a shared screen (screen: true) is shown as it
 * is, whole, so that its text reads the right way round.
 */
export function showLocal(stream, { screen = false } = {}) {
  const video = document.getElementById('local-video');
  video.muted = true;
  video.srcObject = stream.getTracks().length ? stream : null;
  const fig = video.closest('figure');
  fig.classList.toggle('empty', !stream.getVideoTracks().length);
  fig.classList.toggle('screen', screen);
  fig.dataset.camera = stream.getVideoTracks().length ? 'on' : 'off';
  video.play().catch(() => {});
}

/**
 * notice shows a message at the top of the page. kind is 'info' or 'error';
 * a notice with an id replaces an earlier one with the same id.
 */
export function notice(text, { kind = 'info', id = '', action = '', onAction = null, dismissable = true } = {}) {
  const box = document.getElementById('notices');
  if (id) box.querySelector(`[data-notice-id="${CSS.escape(id)}"]`)?.remove();
  const el = document.createElement('div');
  el.className = `notice ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  if (id) el.dataset.noticeId = id;
  const p = document.createElement('span');
  p.textContent = text;
  el.append(p);
  if (action) el.append(button(action, () => { el.remove(); onAction?.(); }));
  if (dismissable) el.append(button('×', () => el.remove(), 'Dismiss'));
  box.append(el);
  return el;
}

/** clearNotice removes the notice with id, if it is shown. */
export function clearNotice(id) {
  document.getElementById('notices').querySelector(`[data-notice-id="${CSS.escape(id)}"]`)?.remove();
}

function button(text, onClick, label = '') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  if (label) b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

/** setStatus sets the short status text in the header. */
export function setStatus(text) {
  document.getElementById('status').textContent = text;
}

/** setPressed updates a toggle button's label and pressed state. */
export function setPressed(id, pressed, label) {
  const b = document.getElementById(id);
  b.setAttribute('aria-pressed', String(pressed));
  b.textContent = label;
}
