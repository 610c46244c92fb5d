package main

import (
	"strings"
	"testing"
)

// TestViewFlagsTerminalGraphics: --terminal-graphics takes auto, blocks,
// kitty or sixel; anything else is a usage error naming the flag.
func TestViewFlagsTerminalGraphics(t *testing.T) {
	for _, g := range []string{"", "auto", "blocks", "kitty", "sixel"} {
		if _, err := (viewFlags{mode: "none", graphics: g}).check(""); err != nil {
			t.Errorf("--terminal-graphics %q: %v", g, err)
		}
	}
	_, err := (viewFlags{mode: "none", graphics: "ascii"}).check("")
	if err == nil || !strings.Contains(err.Error(), "--terminal-graphics") {
		t.Fatalf("--terminal-graphics ascii: %v", err)
	}
}
