package peer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSafetyCodeMatchesBrowser: the Go derivation gives the browser's code
// (computed by web/static/js/safety.js for the same two fingerprints), in
// either order, and a different pair gives a different code.
func TestSafetyCodeMatchesBrowser(t *testing.T) {
	local := "v=0\r\na=fingerprint:sha-256 ab:cd:EF:01\r\n"
	remote := "v=0\r\na=fingerprint:sha-256 12:34:56:78\r\n"
	const want = "26587 31216 07932 62490 61472 58207" // node: codeOf(fingerprintOf(local), "sha-256 12:34:56:78")
	if got := SafetyCode(local, remote); got != want {
		t.Errorf("SafetyCode = %q, want %q", got, want)
	}
	if got := SafetyCode(remote, local); got != want {
		t.Errorf("reversed: %q, want %q", got, want)
	}
	other := "a=fingerprint:sha-256 12:34:56:79\r\n"
	if SafetyCode(local, other) == want {
		t.Error("a different fingerprint gives the same code")
	}
	if SafetyCode(local, "a=fingerprint:sha-1 00:11\r\n") != "" {
		t.Error("a code without sha-256 fingerprints")
	}
}

// TestParseDataMessage: valid messages pass; bad ones get the documented code.
func TestParseDataMessage(t *testing.T) {
	hex64 := strings.Repeat("0", 64)
	for _, c := range []struct {
		in   string
		bin  bool
		code string // "" valid
	}{
		{`{"type":"chat","text":"hi"}`, false, ""},
		{`{"type":"state","mic":"on","camera":"off","screen":true,"max_file":10}`, false, ""},
		{`{"type":"file-offer","id":"a1","name":"x","size":1099511627776,"sha256":"` + hex64 + `"}`, false, ""},
		{`{"type":"file-result","id":"a1","ok":false,"code":"hash-mismatch"}`, false, ""},
		{`{"type":"state","mic":"loud","camera":"on"}`, false, "bad-state"},
		{`{"type":"state","mic":"on","camera":1}`, false, "bad-state"},
		{`{"type":"state","mic":"on","camera":"on","max_file":-1}`, false, "bad-state"},
		{`{"type":"file-offer","id":"../x","name":"x","size":1,"sha256":"` + hex64 + `"}`, false, "bad-file-offer"},
		{`{"type":"file-offer","id":"a","name":"x","size":9007199254740992,"sha256":"` + hex64 + `"}`, false, "bad-file-offer"},
		{`{"type":"file-offer","id":"a","name":"x","size":1.5,"sha256":"` + hex64 + `"}`, false, "bad-file-offer"},
		{`{"type":"file-result","id":"a"}`, false, "bad-file-result"},
		{`{"type":"nope"}`, false, "unknown-type"},
		{`{"type":7}`, false, "bad-message"},
		{`[]`, false, "bad-message"},
		{`null`, false, "bad-message"},
		{`{"type":"state"`, false, "bad-message"},
		{`{"type":"chat","text":"x"}`, true, "bad-message"},
		{`{"type":"chat","text":"` + strings.Repeat("x", MaxMessageBytes) + `"}`, false, "too-long"},
	} {
		m, ref := parseDataMessage([]byte(c.in), !c.bin)
		switch {
		case c.code == "" && ref != nil:
			t.Errorf("%.60s: refused %v", c.in, ref)
		case c.code != "" && ref == nil:
			t.Errorf("%.60s: accepted as %+v", c.in, m)
		case c.code != "" && ref.Code != c.code:
			t.Errorf("%.60s: code %q, want %q", c.in, ref.Code, c.code)
		}
	}
	if _, ref := parseDataMessage([]byte(`{"type":"error","code":"BAD CODE"}`), true); ref == nil || ref.reply() != nil {
		t.Errorf("a bad error message must be refused without a reply: %v", ref)
	}
}

// TestSanitizeName: names from peers become one safe path element.
func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"../../x":                "x",
		`..\..\windows\x`:        "x",
		"/etc/passwd":            "passwd",
		"..":                     "file",
		".hidden":                "hidden",
		"a\x00b\nc":              "a_b_c",
		"  ":                     "file",
		"ok name (1).txt":        "ok name (1).txt",
		"what?.txt":              "what_.txt",
		strings.Repeat("é", 300): strings.Repeat("é", 100),
	} {
		if got := sanitizeName(in); got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPlaceFileNeverOverwrites: a second file of the same name gets "x (1)".
func TestPlaceFileNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.txt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".part")
	if err := os.WriteFile(tmp, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := placeFile(dir, "x.txt", tmp)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(got) != "x (1).txt" {
		t.Errorf("placed at %s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "x.txt")); string(b) != "old" {
		t.Errorf("existing file overwritten: %q", b)
	}
}

// TestQuality: the thresholds of the documented rule.
func TestQuality(t *testing.T) {
	for _, c := range []struct {
		rtt, loss, fps float64
		cam            bool
		want           string
	}{
		{10, 0, 30, true, QualityGood},
		{200, 0, 30, true, QualityFair},
		{500, 0, 30, true, QualityPoor},
		{10, 2, 30, true, QualityFair},
		{10, 6, 30, true, QualityPoor},
		{10, 0, 10, true, QualityFair},
		{10, 0, 2, true, QualityPoor},
		{10, 0, 0, false, QualityGood},
	} {
		if got := Quality(c.rtt, c.loss, c.fps, c.cam); got != c.want {
			t.Errorf("Quality(%v, %v, %v, %v) = %s, want %s", c.rtt, c.loss, c.fps, c.cam, got, c.want)
		}
	}
}

// TestSpeakHysteresis: one loud packet does not start talking, a run
// does; talking survives a short pause and ends after speakHold.
func TestSpeakHysteresis(t *testing.T) {
	var s speakDetector
	t0 := time.Unix(0, 0)
	s.push(10, t0)
	if s.speaking(t0) {
		t.Fatal("talking after one loud packet")
	}
	for i := 1; i < speakOnPackets; i++ {
		s.push(10, t0.Add(time.Duration(i)*20*time.Millisecond))
	}
	now := t0.Add(100 * time.Millisecond)
	if !s.speaking(now) {
		t.Fatal("not talking after a run of loud packets")
	}
	s.push(127, now.Add(500*time.Millisecond))
	if !s.speaking(now.Add(500 * time.Millisecond)) {
		t.Error("a short pause ended talking")
	}
	if s.speaking(now.Add(speakHold + 100*time.Millisecond)) {
		t.Error("still talking after the hold")
	}
}

// TestLossCounter: gaps in sequence numbers (with wrap-around) count as loss.
func TestLossCounter(t *testing.T) {
	var l lossCounter
	seq := uint16(65530)
	for i := 0; i < 100; i++ {
		if i%10 != 5 { // lose every tenth packet
			l.push(&rtp.Header{SSRC: 1, SequenceNumber: seq})
		}
		seq++
	}
	l.tick()
	if got := l.percent(); got < 9 || got > 11 {
		t.Errorf("loss %.1f %%, want ≈ 10 %%", got)
	}
}

type seqRecorder struct{ seqs []uint16 }

func (s *seqRecorder) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	s.seqs = append(s.seqs, h.SequenceNumber)
	return 0, nil
}

func (s *seqRecorder) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	s.seqs = append(s.seqs, p.SequenceNumber)
	return len(b), nil
}

// TestGateRenumbers: packets written while muted are dropped and the later
// ones continue the sequence without a gap, through both write methods.
func TestGateRenumbers(t *testing.T) {
	var off atomic.Bool
	rec := &seqRecorder{}
	g := &gateWriter{w: rec, off: &off, unwanted: &atomic.Bool{}}
	for seq := uint16(65533); seq != 9; seq++ {
		off.Store(seq >= 65535 || seq < 3) // muted for 65535, 0, 1, 2
		h := rtp.Header{Version: 2, SequenceNumber: seq}
		if seq%2 == 0 {
			_, _ = g.WriteRTP(&h, nil)
		} else {
			b, _ := (&rtp.Packet{Header: h}).Marshal()
			_, _ = g.Write(b)
		}
	}
	want := []uint16{65533, 65534, 65535, 0, 1, 2, 3, 4}
	if fmt.Sprint(rec.seqs) != fmt.Sprint(want) {
		t.Errorf("sequence numbers %v, want %v", rec.seqs, want)
	}
}
