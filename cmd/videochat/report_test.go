package main

import "testing"

func TestFitColumns(t *testing.T) {
	for _, c := range []struct {
		in   string
		cols int
		want string
	}{
		{"peers 1 | in 3kbps", 0, "peers 1 | in 3kbps"},  // unknown width
		{"peers 1 | in 3kbps", 80, "peers 1 | in 3kbps"}, // fits
		{"peers 1 | in 3kbps", 10, "peers 1 …"},          // cut, one column left free
		{"♪ alice -23dB bob -60dB", 9, "♪ alice…"},       // runes, not bytes
	} {
		if got := fitColumns(c.in, c.cols); got != c.want {
			t.Errorf("fitColumns(%q, %d) = %q, want %q", c.in, c.cols, got, c.want)
		}
	}
}
