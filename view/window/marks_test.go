package window_test

import (
	"image"
	"testing"

	"github.com/videochat/videochat/view"
	"github.com/videochat/videochat/view/window"
)

// TestDecorate: the name stays centred in the caption; a muted peer's
// microphone mark sits left of it and the quality bars at the right end,
// all inside the caption strip and clear of the name; a talking peer's
// border runs round the whole tile; a peer without state has no marks.
func TestDecorate(t *testing.T) {
	r := window.Rects(2, 1280, 720)[1]
	const nameW, nameH = 70, 26
	plain := window.Decorate(r, nameW, nameH, view.State{})
	if len(plain.Marks) != 0 {
		t.Fatalf("marks without state: %+v", plain.Marks)
	}
	centre := (r.Caption.Min.X + r.Caption.Max.X) / 2
	if c := (plain.Name.Min.X + plain.Name.Max.X) / 2; c < centre-1 || c > centre+1 || !plain.Name.In(r.Caption) {
		t.Fatalf("name at %v in caption %v", plain.Name, r.Caption)
	}
	d := window.Decorate(r, nameW, nameH, view.State{MicOff: true, Quality: view.QualityFair})
	if d.Name != plain.Name {
		t.Fatalf("the marks moved the name: %v, was %v", d.Name, plain.Name)
	}
	var slash, lit, unlit int
	for _, m := range d.Marks {
		if !m.Rect.In(r.Caption) || m.Rect.Overlaps(d.Name) {
			t.Fatalf("mark %v outside the caption %v or over the name %v", m.Rect, r.Caption, d.Name)
		}
		switch {
		case m.Color == window.ColMicSlash:
			slash++
			if m.Rect.Max.X > d.Name.Min.X {
				t.Errorf("the muted mark %v is not left of the name %v", m.Rect, d.Name)
			}
		case m.Color == window.QualityColours[2]:
			lit++
		case m.Rect.Min.X > d.Name.Max.X:
			unlit++
		}
	}
	if slash == 0 || lit != 2 || unlit != 1 {
		t.Fatalf("slash squares %d, lit bars %d, unlit %d (want >0, 2, 1)", slash, lit, unlit)
	}
	talk := window.Decorate(r, nameW, nameH, view.State{Speaking: true})
	var border image.Rectangle
	for _, m := range talk.Marks {
		if m.Color != window.ColSpeaking {
			t.Fatalf("unexpected mark %+v", m)
		}
		border = border.Union(m.Rect)
	}
	if want := r.Picture.Union(r.Caption).Inset(-window.Gap); border != want || len(talk.Marks) != 4 {
		t.Fatalf("border %v in %d marks, want round %v", border, len(talk.Marks), want)
	}
}
