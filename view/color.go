package view

// RGB converts a decoded pixel to RGB. Video from VP8 and H.264 encoders is
// BT.601 "limited range" (Y 16–235, chroma 16–240), unlike JPEG's full
// range that image/color assumes; the window view (SDL, BT601 mode) and
// the terminal view both show it with this conversion.
func RGB(y, cb, cr byte) (r, g, b byte) {
	yy := (int(y) - 16) * 298
	u, v := int(cb)-128, int(cr)-128
	return clamp((yy + 409*v + 128) >> 8), clamp((yy - 100*u - 208*v + 128) >> 8), clamp((yy + 516*u + 128) >> 8)
}

func clamp(x int) byte {
	if x < 0 {
		return 0
	}
	if x > 255 {
		return 255
	}
	return byte(x)
}
