package main

// net.go: `videochat-bench net`, the native sender against Chromium over
// impaired networks (internal/bench/netbench). It shapes the loopback
// interface, so the measuring runs inside network namespaces of its own,
// made by re-executing itself under `unshare -rn` (an unprivileged user
// and network namespace that ends with the process):
//   - --together (the default): per profile, one worker per sender
//     (`--worker profile/sender`, hidden), each under its own
//     `unshare -rn`, started together and measured over the same window
//     (netbench.RunTogether); this process only collects their rows;
//   - --together=false: the whole run re-executed under one
//     `unshare -rn`, the senders one after the other (netbench.Run).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/internal/bench/callbench"
	"github.com/videochat/videochat/internal/bench/netbench"
	"github.com/videochat/videochat/internal/cli"
)

// netnsEnv is set in the re-executed child: it runs inside the namespace.
const netnsEnv = "VIDEOCHAT_BENCH_NETNS"

func newBenchNetCmd(bin *string) *cobra.Command {
	var cfg netbench.Config
	var together bool
	var worker string
	cmd := benchCmd(bin, &cobra.Command{
		Use:   "net",
		Short: "Native vs Chromium sender to a Chromium receiver behind a bottleneck and under loss (in its own network namespace)",
		Long: `Measures the native sender against a Chromium sender, each sending the same
clip to a headless Chromium receiver, per network profile:

  bottleneck  loopback shaped with tc tbf at --link; time to adapt, and
              time to recover once the limit is lifted
  loss        both peers relay-only through an impairing TURN relay
              (--loss dropped, --delay added each way)

By default (--together) the senders of a profile run at the same time, each
in its own network namespace with its own server, impairment and receiver,
so that both face the same machine load; --together=false measures them one
after the other in one namespace.

It needs unshare, tc, ip, ffmpeg (for the default clip) and Chromium, and
re-executes itself under 'unshare -rn'.`,
	}, func(ctx context.Context, binary string, log *slog.Logger) (reportable, error) {
		cfg.Binary, cfg.Logger = binary, log
		if cfg.Chromium == "" {
			cfg.Chromium = callbench.ChromiumPath()
		}
		if worker != "" || !together {
			if os.Getenv(netnsEnv) != "1" {
				return nil, reexecInNetns()
			}
			if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
				return nil, cli.WithCode(exitError, fmt.Errorf("ip link set lo up: %v: %s", err, out))
			}
		}
		if worker != "" {
			prof, sender, _ := strings.Cut(worker, "/")
			return nil, cli.WithCode(exitError, netbench.ServeWorker(ctx, cfg, prof, sender, os.Stdin, os.Stdout))
		}
		if !together {
			rep, err := netbench.Run(ctx, cfg)
			return rep, cli.WithCode(exitError, err)
		}
		if err := needNetnsTools(); err != nil {
			return nil, err
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, cli.WithCode(exitError, err)
		}
		spawn := func(ctx context.Context, prof, sender string) (netbench.Worker, error) {
			argv := append([]string{"unshare", "-rn", exe}, os.Args[1:]...)
			return netbench.StartProcess(ctx, append(argv, "--worker", prof+"/"+sender), []string{netnsEnv + "=1"})
		}
		rep, err := netbench.RunTogether(ctx, cfg, spawn)
		return rep, cli.WithCode(exitError, err)
	})
	fl := cmd.Flags()
	fl.StringSliceVar(&cfg.Profiles, "profiles", []string{"bottleneck", "loss"}, "network profiles to measure: bottleneck, loss")
	fl.StringSliceVar(&cfg.Senders, "senders", []string{"native", "chromium"}, "senders to measure: native, chromium; one may be named twice (chromium,chromium) to see the spread between identical senders")
	fl.IntVar(&cfg.Ceiling, "bitrate", 1_000_000, "senders' video ceiling, bits/s (native --video-bitrate; Chromium maxBitrate)")
	fl.IntVar(&cfg.Link, "link", 500_000, "bottleneck rate, bits/s")
	fl.Float64Var(&cfg.Loss, "loss", 0.05, "loss profile: fraction of packets dropped in each direction")
	fl.DurationVar(&cfg.Delay, "delay", 30*time.Millisecond, "loss profile: delay added in each direction")
	fl.DurationVar(&cfg.Warm, "warmup", 10*time.Second, "time after the impairment starts before the window opens")
	fl.DurationVar(&cfg.Window, "measure", 20*time.Second, "measurement window per profile and sender")
	fl.DurationVar(&cfg.Recover, "recover", 40*time.Second, "longest wait for the sender to reach 90 % of the ceiling after the bottleneck is lifted")
	fl.StringVar(&cfg.Clip, "clip", "", "Y4M clip both senders send (default: generate 10 s of 640x480@30 testsrc2 with ffmpeg)")
	fl.StringVar(&cfg.Chromium, "chromium", "", "Chromium binary (default: $CHROMIUM, /usr/bin/chromium, chromium in PATH)")
	fl.StringVar(&cfg.SenderLog, "sender-log", "", "append the native sender's debug log to this file (timestamped, for reading freezes against it)")
	fl.BoolVar(&together, "together", true, "measure the senders at the same time, each in its own network namespace with its own receiver, so that they face the same machine load (false: one after the other)")
	fl.StringVar(&worker, "worker", "", "internal: measure this profile/sender in this namespace, synchronised with the parent over stdin/stdout")
	_ = fl.MarkHidden("worker")
	_ = fl.MarkHidden("plots") // this report has no plots
	return cmd
}

// reexecInNetns runs this command again inside `unshare -rn`, with the
// same arguments, and returns its result.
func reexecInNetns() error {
	if err := needNetnsTools(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return cli.WithCode(exitError, err)
	}
	c := exec.Command("unshare", append([]string{"-rn", exe}, os.Args[1:]...)...)
	c.Env = append(os.Environ(), netnsEnv+"=1")
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cli.WithCode(ee.ExitCode(), errors.New("in the network namespace: failed (see above)"))
	}
	if err != nil {
		return cli.WithCode(exitError, fmt.Errorf("unshare -rn: %w", err))
	}
	return nil
}

// needNetnsTools checks for the tools the namespaces need.
func needNetnsTools() error {
	for _, tool := range []string{"unshare", "tc", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return cli.WithCode(exitError, fmt.Errorf("%s not found: the network benchmark runs in network namespaces it shapes with tc", tool))
		}
	}
	return nil
}
