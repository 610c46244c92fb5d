package callbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// clipOrMake returns clip when one is given; otherwise it makes one
// (MakeClip) in a temporary directory that remove deletes. desc says which
// it is, for the report.
func clipOrMake(ctx context.Context, clip string) (path, desc string, remove func(), err error) {
	if clip != "" {
		return clip, clip, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "callbench-clip-")
	if err != nil {
		return "", "", nil, err
	}
	if path, err = MakeClip(ctx, dir); err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	return path, "generated: " + ClipCommand, func() { os.RemoveAll(dir) }, nil
}
