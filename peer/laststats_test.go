package peer

import (
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
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LastSnapshot(path); err == nil {
		t.Fatal("LastSnapshot of an empty file: no error")
	}
	if _, err := LastSnapshot(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("LastSnapshot of a missing file: no error")
	}
}
