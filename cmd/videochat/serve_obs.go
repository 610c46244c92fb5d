package main

import (
	"context"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/turn"
)

// observability holds serve's metrics registry.
type observability struct {
	reg *prometheus.Registry
}

func newObservability() *observability {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &observability{reg: reg}
}

// signalMetrics returns the signalling server's metrics on the registry.
func (o *observability) signalMetrics() *signal.Metrics {
	return signal.NewMetrics(o.reg)
}

// watchBackend exports the backend's readiness as videochat_redis_up.
func (o *observability) watchBackend(r readiness) {
	o.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "videochat_redis_up",
		Help: "1 while the Redis backend is reachable and subscribed.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if r.Ready(ctx) == nil {
			return 1
		}
		return 0
	}))
}

// watchTURN exports the embedded TURN server's allocations.
func (o *observability) watchTURN(ts *turn.Server) {
	o.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "videochat_turn_allocations",
		Help: "Open allocations on the embedded TURN server.",
	}, func() float64 { return float64(ts.Allocations()) }))
}

// mount adds /metrics and, if asked, the pprof handlers to mux.
func (o *observability) mount(mux *http.ServeMux, withPprof bool) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{Registry: o.reg}))
	if !withPprof {
		return
	}
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
