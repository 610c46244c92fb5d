// Tile layout: every tile of #tiles gets an absolute position computed
// here, so the tiles use the stage. Without a pinned tile, all tiles get
// the largest size at which N of them fit the area at the videos' aspect
// ratio; with a pinned tile (pinned by the user, or a screen share), it
// gets the largest size that fits above a strip where the others sit.
// The layout is recomputed when the area, the tile set or a video's size
// changes. At phone width (the area has no height of its own) the tiles
// flow in one or two columns and the area takes the height they need.

const GAP = 8;
const NARROW = 760; // px: the media query of style.css that stacks the page
const STRIP_FRACTION = 0.22; // of the area's height, for the unpinned tiles
// STRETCH: a grid tile may be up to this much wider or taller than the
// videos' aspect ratio when the area has room; the video is cropped
// (object-fit: cover), at most a 4:3 picture shown 16:9.
const STRETCH = 4 / 3;

/**
 * bestGrid returns {cols, rows, w, h}: the largest tiles of aspect a that
 * fit n tiles into W×H with GAP between them.
 */
export function bestGrid(n, W, H, a) {
  let best = { cols: 1, rows: Math.max(n, 1), w: 0, h: 0 };
  for (let cols = 1; cols <= Math.max(n, 1); cols++) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((W - (cols - 1) * GAP) / cols, ((H - (rows - 1) * GAP) / rows) * a);
    if (w > best.w) best = { cols, rows, w, h: w / a };
  }
  best.w = Math.max(0, Math.floor(best.w));
  best.h = Math.max(0, Math.floor(best.h));
  return best;
}

/** aspectOf returns the videos' aspect ratio: 16:9 when most are wide, else 4:3. */
function aspectOf(tiles) {
  let wide = 0;
  let known = 0;
  for (const fig of tiles) {
    const v = fig.querySelector('video');
    if (!v?.videoWidth || !v.videoHeight) continue;
    known++;
    if (v.videoWidth / v.videoHeight > 1.55) wide++;
  }
  return known && wide * 2 > known ? 16 / 9 : 4 / 3;
}

function place(el, x, y, w, h) {
  Object.assign(el.style, { left: `${x}px`, top: `${y}px`, width: `${w}px`, height: `${h}px` });
}

/** layoutTiles positions every tile of box (the #tiles element). */
export function layoutTiles(box) {
  const tiles = [...box.children].filter((el) => el.matches('figure.tile'));
  const n = tiles.length;
  box.dataset.count = String(n);
  if (!n) return;
  const a = aspectOf(tiles);
  const W = box.clientWidth;
  const narrow = window.innerWidth <= NARROW;
  const pinned = tiles.find((t) => t.dataset.pinned === 'true');
  box.dataset.layout = pinned ? 'pinned' : 'grid';
  if (narrow) {
    const cols = n === 1 ? 1 : 2;
    const w = Math.floor((W - (cols - 1) * GAP) / cols);
    const h = Math.floor(w / a);
    const order = pinned ? [pinned, ...tiles.filter((t) => t !== pinned)] : tiles;
    let y = 0;
    let i = 0;
    if (pinned) { // the pinned tile takes the whole width
      const ph = Math.floor(W / a);
      place(pinned, 0, 0, W, ph);
      y = ph + GAP;
      i = 1;
    }
    const rest = order.slice(i);
    rest.forEach((t, k) => place(t, (k % cols) * (w + GAP), y + Math.floor(k / cols) * (h + GAP), w, h));
    const rows = Math.ceil(rest.length / cols);
    box.style.height = `${y + rows * h + Math.max(0, rows - 1) * GAP}px`;
    return;
  }
  box.style.height = '';
  const H = box.clientHeight;
  if (pinned && n > 1) {
    const others = tiles.filter((t) => t !== pinned);
    const stripH = Math.max(60, Math.floor(H * STRIP_FRACTION));
    const mainH = H - stripH - GAP;
    const m = bestGrid(1, W, mainH, a);
    place(pinned, Math.floor((W - m.w) / 2), Math.floor((mainH - m.h) / 2), m.w, m.h);
    const s = bestGrid(others.length, W, stripH, a);
    // the strip is one row when it fits, else the best grid inside it
    const rowW = s.cols * s.w + (s.cols - 1) * GAP;
    others.forEach((t, k) => {
      const c = k % s.cols;
      const r = Math.floor(k / s.cols);
      place(t, Math.floor((W - rowW) / 2) + c * (s.w + GAP), mainH + GAP + r * (s.h + GAP), s.w, s.h);
    });
    return;
  }
  const g = bestGrid(n, W, H, a);
  const cellW = (W - (g.cols - 1) * GAP) / g.cols;
  const cellH = (H - (g.rows - 1) * GAP) / g.rows;
  g.w = Math.floor(Math.min(cellW, g.h * a * STRETCH));
  g.h = Math.floor(Math.min(cellH, (g.w / a) * STRETCH));
  const totalH = g.rows * g.h + (g.rows - 1) * GAP;
  const top = Math.floor((H - totalH) / 2);
  tiles.forEach((t, k) => {
    const r = Math.floor(k / g.cols);
    const inRow = r === g.rows - 1 ? n - r * g.cols : g.cols; // centre a short last row
    const rowW = inRow * g.w + (inRow - 1) * GAP;
    const c = k % g.cols;
    place(t, Math.floor((W - rowW) / 2) + c * (g.w + GAP), top + r * (g.h + GAP), g.w, g.h);
  });
}

/**
 * watchLayout keeps box laid out: on resize of box or the window, on tiles
 * added or removed, on a tile's pinned change and on a video's new size.
 */
export function watchLayout(box) {
  let queued = false;
  const relayout = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      layoutTiles(box);
    });
  };
  new ResizeObserver(relayout).observe(box);
  window.addEventListener('resize', relayout);
  const mo = new MutationObserver(relayout);
  mo.observe(box, { childList: true });
  mo.observe(box, { subtree: true, attributeFilter: ['data-pinned'] });
  box.addEventListener('resize', relayout, true); // <video> resize events (capture: they do not bubble)
  box.addEventListener('loadedmetadata', relayout, true);
  layoutTiles(box);
  return relayout;
}
