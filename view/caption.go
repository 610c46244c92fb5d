package view

// The caption of a tile, for both renderers (in cells or in pixels): the
// name centred, the muted mark just left of it, the quality mark at the
// right end. The name keeps its centred place whenever the muted mark fits
// beside it; the marks are left out rather than drawn over the name.

// Span is a part's place along the caption: from X, W units wide (W 0:
// the part is not shown).
type Span struct{ X, W int }

// CaptionParts are the places of a caption's parts.
type CaptionParts struct {
	Name, Mute, Quality Span
}

// LayoutCaption places a caption's parts in a strip width units wide. name,
// mute and quality are the parts' widths (0: the part is absent), gap the
// space kept between parts and at the strip's right end.
func LayoutCaption(width, name, mute, quality, gap int) CaptionParts {
	var p CaptionParts
	if width <= 0 {
		return p
	}
	p.Name.W = min(max(name, 0), width)
	p.Name.X = (width - p.Name.W) / 2
	if mute > 0 {
		if p.Name.X >= mute+gap {
			p.Mute = Span{X: p.Name.X - gap - mute, W: mute}
		} else if mute <= width {
			// No room left of the centred name: the mark first, the
			// name after it, cut at the right end.
			p.Mute = Span{X: 0, W: mute}
			p.Name.X = min(mute+gap, width)
			p.Name.W = min(p.Name.W, width-p.Name.X)
		}
	}
	if quality > 0 {
		x := width - gap - quality
		if x >= 0 && (p.Name.W == 0 || x >= p.Name.X+p.Name.W+gap) && (p.Mute.W == 0 || x >= p.Mute.X+p.Mute.W+gap) {
			p.Quality = Span{X: x, W: quality}
		}
	}
	return p
}
