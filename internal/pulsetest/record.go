package pulsetest

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"sync"
)

// Recording is parecord writing what a sink plays (its monitor) as mono
// 16-bit samples. It is stopped by Stop or, at the latest, when the test
// ends.
type Recording struct {
	s    *Server
	path string
	cmd  *exec.Cmd
	once sync.Once
}

// Record starts recording the monitor of sink at rate Hz, mono.
func (s *Server) Record(sink string, rate int) *Recording {
	s.tb.Helper()
	f, err := os.CreateTemp(s.dir, sink+"-*.raw")
	if err != nil {
		s.tb.Fatal(err)
	}
	f.Close()
	r := &Recording{s: s, path: f.Name()}
	r.cmd = s.Cmd("parecord", "-d", sink+".monitor", "--raw", "--format=s16le",
		fmt.Sprintf("--rate=%d", rate), "--channels=1", "--latency-msec=50", r.path)
	if err := r.cmd.Start(); err != nil {
		s.tb.Fatalf("pulsetest: parecord: %v", err)
	}
	s.tb.Cleanup(r.end)
	return r
}

func (r *Recording) end() {
	r.once.Do(func() {
		_ = r.cmd.Process.Signal(os.Interrupt)
		_ = r.cmd.Wait()
	})
}

// Stop ends the recording and returns its samples.
func (r *Recording) Stop() []int16 {
	r.s.tb.Helper()
	r.end()
	raw, err := os.ReadFile(r.path)
	if err != nil {
		r.s.tb.Fatal(err)
	}
	pcm := make([]int16, len(raw)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return pcm
}
