package peer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLastSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.jsonl")
	lines := `{"peers":[{"name":"a"}]}` + "\n" + `{"peers":[{"name":"b"},{"name":"c"}]}` + "\n"
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LastSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Peers) != 2 || s.Peers[0].Name != "b" {
		t.Fatalf("LastSnapshot = %+v, want the second line", s)
	}
	// join may be half-way through writing the next line: it is not read.
	if err := os.WriteFile(path, []byte(lines+`{"peers":[{"na`), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := LastSnapshot(path); err != nil || len(s.Peers) != 2 {
		t.Fatalf("LastSnapshot with a partial last line = %+v, %v; want the last complete line", s, err)
	}
	for _, content := range []string{"", `{"peers":[`} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LastSnapshot(path); !errors.Is(err, ErrNoStats) {
			t.Fatalf("LastSnapshot of %q: %v, want ErrNoStats", content, err)
		}
	}
	if err := os.WriteFile(path, []byte("not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LastSnapshot(path); err == nil || errors.Is(err, ErrNoStats) {
		t.Fatalf("LastSnapshot of a bad line: %v, want a decode error", err)
	}
	if _, err := LastSnapshot(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("LastSnapshot of a missing file: no error")
	}
}
