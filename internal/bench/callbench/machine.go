package callbench

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

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

func describeMachine(fs procFS, chromium string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadAvg(fs)}
	if info, err := fs.readFile("cpuinfo"); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if k, err := fs.readFile("sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(k)
	}
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

func (m Machine) String() string {
	s := fmt.Sprintf("%s, %d cores, Linux %s, %s", m.CPU, m.Cores, m.Kernel, m.Go)
	if m.Chromium != "" {
		s += ", " + m.Chromium
	}
	return s + fmt.Sprintf("; load average before %.2f, after %.2f (1 min)", m.LoadBefore[0], m.LoadAfter[0])
}
