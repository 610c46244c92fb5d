//go:build nogui

package window

import (
	"context"

	"github.com/videochat/videochat/view"
)

// Available is false: this build has no window view (nogui).
const Available = false

// Source is what the window would show.
type Source interface {
	Tiles() ([]view.Tile, uint64)
}

// Run returns ErrUnavailable.
func Run(context.Context, Config, Source) error { return ErrUnavailable }
