package callbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ClipCommand is the ffmpeg command MakeClip runs (output name last).
const ClipCommand = "ffmpeg -f lavfi -i testsrc2=size=640x480:rate=30 -t 10 -pix_fmt yuv420p clip.y4m"

// MakeClip writes a 10 s 640×480@30 Y4M test clip (ffmpeg's testsrc2)
// into dir and returns its path.
func MakeClip(ctx context.Context, dir string) (string, error) {
	path := filepath.Join(dir, "clip.y4m")
	args := strings.Fields(ClipCommand)
	args = append(append([]string{"-v", "error", "-y"}, args[1:len(args)-1]...), path)
	out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("make clip with ffmpeg: %w: %s", err, out)
	}
	return path, nil
}

// stage is what a call or mesh benchmark runs against: a started server
// and the clip its peers send.
type stage struct {
	env               // with server and clip filled in
	srv        *child // the server
	clipDesc   string // the clip given, or how it was generated
	removeClip func()
}

// setUp makes a clip when e has none (MakeClip, in a temporary directory)
// and starts the server of e.bin.
func setUp(ctx context.Context, e env) (*stage, error) {
	st := &stage{env: e, clipDesc: e.clip, removeClip: func() {}}
	if e.clip == "" {
		dir, err := os.MkdirTemp("", "callbench-clip-")
		if err != nil {
			return nil, err
		}
		st.removeClip = func() { os.RemoveAll(dir) }
		if st.clip, err = MakeClip(ctx, dir); err != nil {
			st.removeClip()
			return nil, err
		}
		st.clipDesc = "generated: " + ClipCommand
	}
	srv, server, err := startServer(ctx, e.bin)
	if err != nil {
		st.removeClip()
		return nil, err
	}
	st.srv, st.server = srv, server
	return st, nil
}

// close stops the server and removes a generated clip.
func (st *stage) close() {
	st.srv.stop(5 * time.Second)
	st.removeClip()
}
