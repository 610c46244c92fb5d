package callbench

import (
	"fmt"
	"math"
	"strings"
)

// GoalResult compares one measured value with a goal of issue 7.
type GoalResult struct {
	Goal   string  `json:"goal"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
	Detail string  `json:"detail"`
}

// Goal limits of issue 7 item 3.
const (
	maxCPURatio      = 0.5  // native CPU / Chromium CPU in the same call
	bitrateTolerance = 0.25 // |achieved − target| / target
	maxMeshRatio3to1 = 1.3  // item 2: CPU with 3 peers / CPU with 1
)

// findCall returns the call whose name starts with prefix and contains
// every one of parts.
func findCall(calls []CallResult, parts ...string) (CallResult, bool) {
	for _, c := range calls {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(c.Name, p)
		}
		if ok {
			return c, true
		}
	}
	return CallResult{}, false
}

func callGoals(r *CallReport) []GoalResult {
	var out []GoalResult
	if c, ok := findCall(r.Calls, "native↔Chromium", "VP8"); ok {
		n, cr := c.Sides[0], c.Sides[1]
		if cr.CPUCores > 0 {
			v := n.CPUCores / cr.CPUCores
			out = append(out, GoalResult{Goal: "native CPU / Chromium CPU, same 1:1 call (" + c.Name + ")",
				Value: round(v, 3), Target: fmt.Sprintf("≤ %.1f", maxCPURatio), Met: v <= maxCPURatio,
				Detail: fmt.Sprintf("native %.3f cores, Chromium tree %.3f cores", n.CPUCores, cr.CPUCores)})
		}
	}
	nn, okN := findCall(r.Calls, "native↔native", "clip")
	cc, okC := findCall(r.Calls, "Chromium↔Chromium")
	if okN && okC {
		n, cr := mean(nn.Sides, cpu), mean(cc.Sides, cpu)
		if cr > 0 {
			v := n / cr
			out = append(out, GoalResult{Goal: "native↔native side CPU / Chromium↔Chromium side CPU (same clip)",
				Value: round(v, 3), Target: fmt.Sprintf("≤ %.1f", maxCPURatio), Met: v <= maxCPURatio,
				Detail: fmt.Sprintf("native %.3f cores per side, Chromium %.3f cores per side", n, cr)})
		}
	}
	target := float64(r.Bitrate) / 1000
	add := func(what string, kbps float64) {
		dev := kbps/target - 1
		out = append(out, GoalResult{Goal: what, Value: round(kbps, 1),
			Target: fmt.Sprintf("%.0f kbps ± %.0f%%", target, bitrateTolerance*100), Met: math.Abs(dev) <= bitrateTolerance,
			Detail: fmt.Sprintf("%+.0f%% of target (video payload received by the other side)", dev*100)})
	}
	for _, c := range r.Calls {
		for i, s := range c.Sides {
			other := c.Sides[1-i]
			if other.Kind != "native" {
				continue
			}
			codec := "VP8"
			if strings.Contains(c.Name, "H.264") {
				codec = "H.264"
			}
			add(fmt.Sprintf("native %s bitrate, %s (%s → %s)", codec, c.Name, other.Name, s.Name), s.RecvVideoKbps)
		}
	}
	return out
}

func cpu(s SideResult) float64 { return s.CPUCores }

func mean(sides []SideResult, f func(SideResult) float64) float64 {
	if len(sides) == 0 {
		return 0
	}
	sum := 0.0
	for _, s := range sides {
		sum += f(s)
	}
	return sum / float64(len(sides))
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
