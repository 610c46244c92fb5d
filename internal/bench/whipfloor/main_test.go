package whipfloor

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// roleEnv names the role a re-executed test binary plays (forward, sink,
// send); the rest of its configuration is in the WHIPFLOOR_* variables set
// by startRole.
const roleEnv = "WHIPFLOOR_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	goleak.VerifyTestMain(m)
}

// runRole runs one role until SIGINT or SIGTERM. It prints "addr A[,A…]"
// when ready and "count N" when it ends.
func runRole(role string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var n uint64
	var err error
	switch role {
	case "forward":
		cfg := ForwardConfig{
			Listen: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)},
			Read:   os.Getenv("WHIPFLOOR_READ"),
			Write:  os.Getenv("WHIPFLOOR_WRITE"),
			Ready:  func(a *net.UDPAddr) { fmt.Println("addr", a) },
		}
		cfg.Handoffs, _ = strconv.Atoi(os.Getenv("WHIPFLOOR_HANDOFFS"))
		for _, s := range strings.Split(os.Getenv("WHIPFLOOR_RX"), ",") {
			a, perr := net.ResolveUDPAddr("udp4", s)
			if perr != nil {
				fmt.Fprintln(os.Stderr, "whipfloor:", perr)
				return 2
			}
			cfg.Receivers = append(cfg.Receivers, a)
		}
		var c Counts
		err = Forward(ctx, cfg, &c)
		n = c.Received.Load()
		if b := c.Bad.Load(); b > 0 {
			fmt.Fprintln(os.Stderr, "whipfloor: bad packets:", b)
		}
	case "sink":
		k, _ := strconv.Atoi(os.Getenv("WHIPFLOOR_N"))
		n, err = Sink(ctx, k, os.Getenv("WHIPFLOOR_SINK_READ") != "0", func(as []*net.UDPAddr) {
			s := make([]string, len(as))
			for i, a := range as {
				s[i] = a.String()
			}
			fmt.Println("addr", strings.Join(s, ","))
		})
	case "send":
		to, perr := net.ResolveUDPAddr("udp4", os.Getenv("WHIPFLOOR_TO"))
		if perr != nil {
			fmt.Fprintln(os.Stderr, "whipfloor:", perr)
			return 2
		}
		n, err = Send(ctx, os.Getenv("WHIPFLOOR_CLIP"), to)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	fmt.Println("count", n)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "whipfloor:", err)
		return 1
	}
	return 0
}
