package term

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"

	"github.com/videochat/videochat/view"
)

// The kitty graphics protocol: each tile's picture is transmitted as 24-bit
// RGB (at most 320 pixels wide: the terminal scales it into its cells) and
// placed with its cell rectangle; a picture replaces the previous one of the
// same tile (same image id).

type kittyPic struct {
	id  string
	seq uint64
	img *image.YCbCr
	at  image.Rectangle // cells
}

type kittyState struct {
	ids  map[string]uint32
	next uint32
	sent map[uint32]bool
}

const kittyMaxW = 320

func (k *kittyState) reset(b *bytes.Buffer) {
	if len(k.sent) > 0 {
		b.WriteString("\x1b_Ga=d,d=A,q=2\x1b\\") // delete every placement
	}
	k.sent = nil
}

func (k *kittyState) place(b *bytes.Buffer, pics []kittyPic) {
	if k.ids == nil {
		k.ids = map[string]uint32{}
	}
	shown := map[uint32]bool{}
	for _, p := range pics {
		id, ok := k.ids[p.id]
		if !ok {
			k.next++
			id = k.next
			k.ids[p.id] = id
		}
		shown[id] = true
		w, h := p.img.Rect.Dx(), p.img.Rect.Dy()
		if w > kittyMaxW {
			h, w = h*kittyMaxW/w, kittyMaxW
		}
		rgb := make([]byte, 0, w*h*3)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := p.img.YCbCrAt(p.img.Rect.Min.X+x*p.img.Rect.Dx()/w, p.img.Rect.Min.Y+y*p.img.Rect.Dy()/h)
				r, g, bl := view.RGB(c.Y, c.Cb, c.Cr)
				rgb = append(rgb, r, g, bl)
			}
		}
		enc := base64.StdEncoding.EncodeToString(rgb)
		b.WriteString("\x1b7")
		fmt.Fprintf(b, "\x1b[%d;%dH", p.at.Min.Y+1, p.at.Min.X+1)
		for i := 0; i < len(enc); i += 4096 {
			chunk := enc[i:min(i+4096, len(enc))]
			more := 0
			if i+4096 < len(enc) {
				more = 1
			}
			if i == 0 {
				fmt.Fprintf(b, "\x1b_Ga=T,f=24,s=%d,v=%d,i=%d,p=1,c=%d,r=%d,C=1,q=2,m=%d;%s\x1b\\",
					w, h, id, p.at.Dx(), p.at.Dy(), more, chunk)
			} else {
				fmt.Fprintf(b, "\x1b_Gm=%d;%s\x1b\\", more, chunk)
			}
		}
		b.WriteString("\x1b8")
	}
	for _, id := range k.ids {
		if k.sent[id] && !shown[id] {
			fmt.Fprintf(b, "\x1b_Ga=d,d=i,i=%d,q=2\x1b\\", id)
		}
	}
	k.sent = shown
}
