package view_test

import (
	"testing"

	"github.com/videochat/videochat/view"
)

// TestLayoutCaption: the name stays centred when the muted mark fits to
// its left; otherwise the mark comes first and the name follows, cut; the
// quality mark sits at the right end unless it would touch another part;
// no part leaves the strip or overlaps another.
func TestLayoutCaption(t *testing.T) {
	type S = view.Span
	for _, c := range []struct {
		what                            string
		width, name, mute, quality, gap int
		want                            view.CaptionParts
	}{
		{"name only", 40, 6, 0, 0, 1, view.CaptionParts{Name: S{17, 6}}},
		{"muted, room", 40, 6, 7, 0, 1, view.CaptionParts{Name: S{17, 6}, Mute: S{9, 7}}},
		{"muted and quality", 40, 6, 7, 3, 1, view.CaptionParts{Name: S{17, 6}, Mute: S{9, 7}, Quality: S{36, 3}}},
		{"muted, narrow", 16, 6, 7, 0, 1, view.CaptionParts{Name: S{8, 6}, Mute: S{0, 7}}},
		{"muted, name cut", 12, 6, 7, 3, 1, view.CaptionParts{Name: S{8, 4}, Mute: S{0, 7}}},
		{"quality, no room", 10, 8, 0, 3, 1, view.CaptionParts{Name: S{1, 8}}},
		{"long name cut", 5, 9, 0, 0, 1, view.CaptionParts{Name: S{0, 5}}},
		{"pixels", 300, 70, 16, 22, 8, view.CaptionParts{Name: S{115, 70}, Mute: S{91, 16}, Quality: S{270, 22}}},
		{"empty strip", 0, 5, 7, 3, 1, view.CaptionParts{}},
	} {
		got := view.LayoutCaption(c.width, c.name, c.mute, c.quality, c.gap)
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.what, got, c.want)
			continue
		}
		spans := []view.Span{got.Name, got.Mute, got.Quality}
		for i, a := range spans {
			if a.W > 0 && (a.X < 0 || a.X+a.W > c.width) {
				t.Errorf("%s: part %d %+v leaves the strip", c.what, i, a)
			}
			for _, b := range spans[i+1:] {
				if a.W > 0 && b.W > 0 && a.X < b.X+b.W && b.X < a.X+a.W {
					t.Errorf("%s: %+v overlaps %+v", c.what, a, b)
				}
			}
		}
	}
}
