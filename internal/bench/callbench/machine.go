package callbench

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/videochat/videochat/internal/procstat"
)

// Usage is the CPU and memory one side used during a measurement window.
type Usage = procstat.Usage

// Machine describes where a benchmark ran.
type Machine struct {
	CPU        string     `json:"cpu"`
	Cores      int        `json:"cores"`
	Kernel     string     `json:"kernel"`
	Go         string     `json:"go"`
	Chromium   string     `json:"chromium,omitempty"`
	LoadBefore [2]float64 `json:"load_before"`
	LoadAfter  [2]float64 `json:"load_after"`
}

func describeMachine(fs procstat.FS, chromium string) Machine {
	m := Machine{CPU: fs.CPUModel(), Cores: runtime.NumCPU(), Kernel: fs.Kernel(), Go: runtime.Version(), LoadBefore: load(fs)}
	if chromium != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, chromium, "--version").Output(); err == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			m.Chromium = strings.TrimSpace(lines[len(lines)-1])
		}
	}
	return m
}

// load is the 1- and 5-minute load averages, as the reports show them.
func load(fs procstat.FS) [2]float64 {
	l := fs.LoadAvg()
	return [2]float64{l[0], l[1]}
}

func (m Machine) String() string {
	s := fmt.Sprintf("%s, %d cores, Linux %s, %s", m.CPU, m.Cores, m.Kernel, m.Go)
	if m.Chromium != "" {
		s += ", " + m.Chromium
	}
	return s + fmt.Sprintf("; load average before %.2f, after %.2f (1 min)", m.LoadBefore[0], m.LoadAfter[0])
}
