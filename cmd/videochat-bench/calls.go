package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/videochat/videochat/internal/bench/callbench"
	"github.com/videochat/videochat/internal/cli"
)

// benchCallCmds returns the media benchmark subcommands; bin is the
// --videochat flag of the root command.
func benchCallCmds(bin *string) []*cobra.Command {
	return []*cobra.Command{newBenchCallCmd(bin), newBenchMeshCmd(bin)}
}

// benchOutput are the output flags of the media benchmarks.
type benchOutput struct {
	json  bool
	plots string
	log   logFlags
}

func (o *benchOutput) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&o.json, "json", false, "print the report as JSON instead of Markdown tables")
	fl.StringVar(&o.plots, "plots", "", "write SVG plots into this directory (e.g. docs/bench)")
	fl.StringVar(&o.log.Level, "log-level", "info", "progress log level (stderr): debug, info, warn, error")
	fl.StringVar(&o.log.Format, "log-format", "text", "log format: text or json")
}

// reportable is what both benchmark reports offer.
type reportable interface {
	WriteMarkdown(w io.Writer)
	WritePlots(dir string) ([]string, error)
}

func (o *benchOutput) write(rep reportable) error {
	if o.plots != "" {
		paths, err := rep.WritePlots(o.plots)
		if err != nil {
			return cli.WithCode(exitError, fmt.Errorf("plots: %w", err))
		}
		for _, p := range paths {
			fmt.Fprintln(os.Stderr, "videochat: wrote", p)
		}
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.WriteMarkdown(os.Stdout)
	return nil
}

// benchCmd is one media benchmark subcommand: it resolves --videochat and
// the progress logger, runs the benchmark and writes its report as the
// output flags (benchOutput) say. run gets the binary and the logger; a nil
// report with a nil error means run has already done all there was to do.
func benchCmd(bin *string, cmd *cobra.Command, run func(ctx context.Context, binary string, log *slog.Logger) (reportable, error)) *cobra.Command {
	out := &benchOutput{}
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log, err := out.log.Logger(os.Stderr)
		if err != nil {
			return err
		}
		binary, err := videochatBinary(*bin)
		if err != nil {
			return err
		}
		rep, err := run(cmd.Context(), binary, log)
		if err != nil || rep == nil {
			return err
		}
		return out.write(rep)
	}
	out.register(cmd)
	return cmd
}

func newBenchCallCmd(bin *string) *cobra.Command {
	var cfg callbench.CallConfig
	var noChromium bool
	cmd := benchCmd(bin, &cobra.Command{
		Use:   "call",
		Short: "Call set-up time, CPU, memory and bitrate: native peers against Chromium, on loopback",
	}, func(ctx context.Context, binary string, log *slog.Logger) (reportable, error) {
		cfg.Binary, cfg.Logger = binary, log
		if !noChromium && cfg.Chromium == "" {
			cfg.Chromium = callbench.ChromiumPath()
		}
		if noChromium {
			cfg.Chromium = ""
		}
		rep, err := callbench.RunCall(ctx, cfg)
		return rep, cli.WithCode(exitError, err)
	})
	fl := cmd.Flags()
	fl.IntVar(&cfg.Runs, "runs", 10, "set-up measurements per kind (the p50 is reported)")
	fl.DurationVar(&cfg.Measure, "measure", 30*time.Second, "CPU/RSS/bitrate window per call")
	fl.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "time a call runs before its window opens, after the native senders' estimates reached the bitrate")
	fl.DurationVar(&cfg.Ramp, "ramp", 60*time.Second, "longest wait for a native sender's link estimate to reach 90 % of the bitrate (then measured anyway, marked not ramped)")
	fl.IntVar(&cfg.Bitrate, "bitrate", 1_000_000, "video target of every sender, bits/s (Chromium: maxBitrate)")
	fl.StringVar(&cfg.Clip, "clip", "", "Y4M clip both kinds of peer send (default: generate 10 s of 640x480@30 testsrc2 with ffmpeg)")
	fl.StringVar(&cfg.Chromium, "chromium", "", "Chromium binary (default: $CHROMIUM, /usr/bin/chromium, chromium in PATH)")
	fl.BoolVar(&noChromium, "no-chromium", false, "measure native peers only")
	fl.StringVar(&cfg.Audio, "audio", "test", "native peers' audio source: test or mic (the default microphone)")
	return cmd
}

func newBenchMeshCmd(bin *string) *cobra.Command {
	var cfg callbench.MeshConfig
	cmd := benchCmd(bin, &cobra.Command{
		Use:   "mesh",
		Short: "Native sender CPU with 1, 3 and 5 remote peers (encode once, send to many), on loopback",
	}, func(ctx context.Context, binary string, log *slog.Logger) (reportable, error) {
		cfg.Binary, cfg.Logger = binary, log
		rep, err := callbench.RunMesh(ctx, cfg)
		return rep, cli.WithCode(exitError, err)
	})
	fl := cmd.Flags()
	fl.IntSliceVar(&cfg.Peers, "peers", []int{1, 3, 5}, "numbers of remote peers to measure, ascending")
	fl.DurationVar(&cfg.Measure, "measure", 20*time.Second, "window per number of peers")
	fl.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "wait after every link's estimate reached the bitrate")
	fl.DurationVar(&cfg.Ramp, "ramp", 60*time.Second, "longest wait for every link's estimate to reach 90 % of the bitrate (then measured anyway, marked not ramped)")
	fl.IntVar(&cfg.Bitrate, "bitrate", 1_000_000, "sender's video target, bits/s")
	fl.StringVar(&cfg.Video, "video", "", "sender's video: test or a .y4m file (default: generate the clip of videochat-bench call)")
	return cmd
}
