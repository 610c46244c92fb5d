package e2e

import (
	"fmt"
	"strconv"
	"time"

	"github.com/videochat/videochat/internal/browsertest"
)

// tileOf waits up to a minute for pg to show the video tile of the peer
// named name, and returns the tile's CSS selector and the peer's id.
func tileOf(pg *browsertest.Page, name string) (sel, id string) {
	sel = fmt.Sprintf(`video[data-peer-name=%q]`, name)
	q := strconv.Quote(sel)
	pg.WaitFor(name+"'s tile", fmt.Sprintf(`!!document.querySelector(%s)`, q), time.Minute)
	return sel, browsertest.Eval[string](pg, fmt.Sprintf(`document.querySelector(%s).dataset.peerId`, q))
}
