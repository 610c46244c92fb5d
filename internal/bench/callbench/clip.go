package callbench

import (
	"context"
	"fmt"
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
