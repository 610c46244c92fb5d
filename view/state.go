package view

// State is what the tiles show about a remote peer besides its video:
// what it announced (microphone, camera), whether it is talking and how
// good its link is. Plain values, so view needs nothing from peer; join
// feeds them from the peer's stats and events.
//
// Invariants:
//   - A tile's State starts as the zero State (microphone and camera on,
//     not talking, quality unknown) and changes only through SetState.
//   - A tile whose camera is off shows no picture (Tile.Frame is nil, the
//     name on a dark tile) even while frames still arrive; its frames are
//     still taken from the queue, so turning the camera on shows the newest.
//   - A change of any tile's State changes the version Tiles returns, so a
//     renderer that redraws on a new version redraws the captions.
type State struct {
	MicOff    bool
	CameraOff bool
	// Speaking: the peer is talking (the peer's talk detector, with its
	// hysteresis); its tile is highlighted.
	Speaking bool
	// Quality of the link: "good", "fair", "poor", or "" when unknown.
	Quality string
}

// Link quality grades (the values of State.Quality).
const (
	QualityGood = "good"
	QualityFair = "fair"
	QualityPoor = "poor"
)

// QualityBars is how many of three bars a quality mark lights: 3 good, 2
// fair, 1 poor, 0 unknown.
func QualityBars(q string) int {
	switch q {
	case QualityGood:
		return 3
	case QualityFair:
		return 2
	case QualityPoor:
		return 1
	}
	return 0
}

// SetState sets what the tile of peer id shows about it. A peer without a
// tile is ignored (the caller repeats the state: join polls it).
func (v *View) SetState(id string, s State) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.tiles[id]
	if t == nil {
		return
	}
	t.mu.Lock()
	changed := t.state != s
	t.state = s
	t.mu.Unlock()
	if changed {
		v.version++
	}
}
