package doctor

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Check is the result of one step.
type Check struct {
	OK bool `json:"ok"`
	// ElapsedMS is how long the step took, in milliseconds.
	ElapsedMS int64 `json:"elapsedMs"`
	// Message says what was found, or what failed, for a human.
	Message string `json:"message"`
}

// PathResult is the result of gathering against one ICE server URL over
// one transport.
type PathResult struct {
	// URL is the STUN or TURN URL checked, with the transport parameter.
	URL string `json:"url"`
	// Kind is "stun" or "turn".
	Kind string `json:"kind"`
	// Transport is "udp" or "tcp" ("tls" for turns:).
	Transport string `json:"transport"`
	OK        bool   `json:"ok"`
	// Candidates lists the candidate types obtained: host, srflx, relay.
	Candidates []string `json:"candidates"`
	// Addresses are the srflx or relay addresses obtained (ip:port).
	Addresses []string `json:"addresses,omitempty"`
	ElapsedMS int64    `json:"elapsedMs"`
	Message   string   `json:"message"`
}

// Report is the outcome of Run.
type Report struct {
	Server string       `json:"server"`
	Room   string       `json:"room"`
	Join   Check        `json:"join"`
	Paths  []PathResult `json:"paths"`
	Notes  []string     `json:"notes,omitempty"`
	// OK is true when the join and every path succeeded.
	OK bool `json:"ok"`
}

// Write prints the report for a human, one line per check and a verdict.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "videochat doctor: %s (room %s)\n", r.Server, r.Room)
	fmt.Fprintf(&b, "  %s join: %s (%v)\n", mark(r.Join.OK), r.Join.Message, ms(r.Join.ElapsedMS))
	for _, p := range r.Paths {
		types := "none"
		if len(p.Candidates) > 0 {
			types = strings.Join(p.Candidates, ", ")
		}
		fmt.Fprintf(&b, "  %s %s [candidates: %s] (%v)\n", mark(p.OK), p.Message, types, ms(p.ElapsedMS))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	verdict := "OK: every configured path works"
	if !r.OK {
		verdict = "FAILED: see the lines marked FAIL above"
	}
	fmt.Fprintf(&b, "%s\n", verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

func mark(ok bool) string {
	if ok {
		return "ok  "
	}
	return "FAIL"
}

func ms(n int64) time.Duration { return (time.Duration(n) * time.Millisecond).Round(time.Millisecond) }
