package vtest

import (
	"sync"

	"github.com/videochat/videochat/view"
)

// Tiles stands in for a *view.View as the source of a renderer: it shows
// the tiles last Set, with a version that Set bumps.
type Tiles struct {
	mu    sync.Mutex
	tiles []view.Tile
	ver   uint64
}

// NewTiles returns a source showing ts.
func NewTiles(ts ...view.Tile) *Tiles {
	t := &Tiles{}
	t.Set(ts)
	return t
}

// Tiles returns a copy of the tiles and their version.
func (t *Tiles) Tiles() ([]view.Tile, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]view.Tile(nil), t.tiles...), t.ver
}

// Set replaces the tiles.
func (t *Tiles) Set(ts []view.Tile) {
	t.mu.Lock()
	t.tiles = ts
	t.ver++
	t.mu.Unlock()
}

// SetFrames replaces the tiles without bumping the version, as a
// *view.View does when only their frames changed (same tiles, same
// states).
func (t *Tiles) SetFrames(ts []view.Tile) {
	t.mu.Lock()
	t.tiles = ts
	t.mu.Unlock()
}
