// DOM helpers: tiles, notices and status. The DOM contract the tests rely on:
// each remote peer is <video data-peer-id="ID" data-peer-name="NAME">.

const tiles = () => document.getElementById('tiles');

function tileOf(id) {
  return tiles().querySelector(`figure[data-peer-id="${CSS.escape(id)}"]`);
}

/** addTile shows a tile for peer {id, name}; it returns the <video>. */
export function addTile(peer) {
  const existing = tileOf(peer.id);
  if (existing) return existing.querySelector('video');
  const fig = document.createElement('figure');
  fig.className = 'tile remote';
  fig.dataset.peerId = peer.id;
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = false;
  video.dataset.peerId = peer.id;
  video.dataset.peerName = peer.name;
  const label = document.createElement('figcaption');
  label.className = 'label';
  label.textContent = peer.name;
  const state = document.createElement('span');
  state.className = 'conn-state';
  state.textContent = 'connecting…';
  fig.append(video, label, state);
  tiles().append(fig);
  updateLayout();
  return video;
}

/** removeTile removes the tile of peer id. */
export function removeTile(id) {
  const fig = tileOf(id);
  if (!fig) return;
  const video = fig.querySelector('video');
  video.srcObject = null;
  fig.remove();
  updateLayout();
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

function updateLayout() {
  tiles().dataset.count = String(tiles().children.length);
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
