package signal

import (
	"bytes"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/videochat/videochat/signal/proto"
)

// Metrics are the signalling server's Prometheus metrics. Build them with
// NewMetrics on the registry the binary serves and pass them in
// Config.Metrics; without them (nil, the default) a Server records into
// Metrics of its own that nothing exports. One Metrics belongs to one
// Server.
//
// The binary mounts the registry with promhttp:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
//	sig, err := signal.New(signal.Config{Metrics: signal.NewMetrics(reg), …})
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
//
// State that lives outside this package (Redis reachability, TURN
// allocations) is best exported by the binary with gauges that read it at
// scrape time, on the same registry:
//
//	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
//		Name: "videochat_redis_up", Help: "1 if the Redis backend answers PING."},
//		func() float64 { if backend.Ready(ctx) == nil { return 1 }; return 0 }))
//
// Every series this package exports starts with videochat_signal_. The
// per-message counters are resolved to their label values when the
// Metrics are built, so the hot path does no label lookups.
type Metrics struct {
	conns, peers, rooms, held prometheus.Gauge

	in      [numInKinds]prometheus.Counter
	out     [numOutKinds]prometheus.Counter
	latency prometheus.Histogram

	evictions *prometheus.CounterVec
	dropped   prometheus.Counter
	shed      prometheus.Counter
	resumes   prometheus.Counter
	errors    *prometheus.CounterVec
	refusals  *prometheus.CounterVec
}

// Kinds of client messages, for messages_in_total.
const (
	inJoin = iota
	inLeave
	inOffer
	inAnswer
	inCandidate
	inInvalid // not decodable, unknown type, or a binary frame
	numInKinds
)

var inKindNames = [numInKinds]string{proto.TypeJoin, proto.TypeLeave, proto.TypeOffer, proto.TypeAnswer,
	proto.TypeCandidate, "invalid"}

// Kinds of server frames, for messages_out_total.
const (
	outOther = iota
	outWelcome
	outPeerJoined
	outPeerLeft
	outOffer
	outAnswer
	outCandidate
	outError
	outBye
	numOutKinds
)

var outKindNames = [numOutKinds]string{"other", proto.TypeWelcome, proto.TypePeerJoined, proto.TypePeerLeft,
	proto.TypeOffer, proto.TypeAnswer, proto.TypeCandidate, proto.TypeError, proto.TypeBye}

// Reasons a connection or join is refused, besides the join's error codes
// (room-full, room-limit, unauthorized, bad-room, …).
const (
	refusedPerIP     = "per-ip-limit" // HTTP 429, MaxConnsPerIP
	refusedShutdown  = "shutdown"     // HTTP 503, the server is shutting down
	refusedHandshake = "handshake"    // foreign Origin or a bad WebSocket handshake
)

// NewMetrics creates the server's metrics and registers them with reg. It
// panics if reg already holds metrics of the same names (as
// prometheus.MustRegister does).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "videochat", "signal"
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{label})
	}
	m := &Metrics{
		conns: gauge("connections", "Open WebSocket connections."),
		peers: gauge("peers", "Peers in a room on this server (connected or held for resume)."),
		rooms: gauge("rooms", "Rooms with a peer on this server."),
		held:  gauge("held_sessions", "Sessions held for a resume after their connection dropped."),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "relay_latency_seconds",
			Help: "Time from a directed message (offer, answer, candidate) being handed to its target's connection " +
				"until its write to the socket completed.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 18)}),
		evictions: counterVec("evictions_total", "Connections closed for not keeping up: slow-consumer (send queue full) or rate-limited.", "reason"),
		dropped:   counter("dropped_messages_total", "Client messages dropped by the rate limit."),
		shed:      counter("shed_messages_total", "Directed messages dropped by the server-wide relay cap."),
		resumes:   counter("resumes_total", "Joins that took a peer id back with a resume token."),
		errors:    counterVec("errors_total", "Coded error messages sent to clients.", "code"),
		refusals:  counterVec("refused_total", "Connections or joins refused, by reason.", "reason"),
	}
	in := counterVec("messages_in_total", "Messages received from clients, by type.", "type")
	out := counterVec("messages_out_total", "Messages written to clients, by type.", "type")
	for k, name := range inKindNames {
		m.in[k] = in.WithLabelValues(name)
	}
	for k, name := range outKindNames {
		m.out[k] = out.WithLabelValues(name)
	}
	// Every series a label can take starts at zero.
	for _, code := range []string{proto.CodeBadMessage, proto.CodeBadRoom, proto.CodeBadName, proto.CodeRoomFull,
		proto.CodeUnknownPeer, proto.CodeUnsupportedVersion, proto.CodeNotJoined, proto.CodeAlreadyJoined,
		proto.CodeRateLimited, proto.CodeUnauthorized, proto.CodeUnavailable, proto.CodeSlowConsumer,
		proto.CodeHandshakeTimeout, proto.CodeInternal, proto.CodeRoomLimit, proto.CodeReplaced,
		proto.CodeOverloaded, proto.CodeForbidden} {
		m.errors.WithLabelValues(code)
	}
	for _, r := range []string{refusedPerIP, refusedShutdown, refusedHandshake, proto.CodeBadRoom, proto.CodeRoomFull,
		proto.CodeRoomLimit, proto.CodeUnauthorized, proto.CodeUnsupportedVersion, proto.CodeBadName} {
		m.refusals.WithLabelValues(r)
	}
	for _, r := range []string{proto.CodeSlowConsumer, proto.CodeRateLimited} {
		m.evictions.WithLabelValues(r)
	}
	reg.MustRegister(m.conns, m.peers, m.rooms, m.held, m.latency, m.evictions, m.dropped, m.shed, m.resumes,
		m.errors, m.refusals, in, out)
	return m
}

// errorSent counts an error message with code.
func (m *Metrics) errorSent(code string) { m.errors.WithLabelValues(code).Inc() }

// refused counts a refused connection or join.
func (m *Metrics) refused(reason string) { m.refusals.WithLabelValues(reason).Inc() }

// written counts a batch the writer has written at now, and observes the
// relay latency of its directed frames.
func (m *Metrics) written(b *writeBatch, now time.Duration) {
	if n := len(b.replies); n > 0 {
		m.out[outError].Add(float64(n))
	}
	for _, f := range b.frames {
		m.wroteFrame(f.data, f.at, now)
	}
}

// wroteFrame counts one room frame written at now that was handed to its
// connection at at, and observes the relay latency of a directed message.
func (m *Metrics) wroteFrame(frame []byte, at, now time.Duration) {
	k := outKind(frame)
	m.out[k].Inc()
	if (k == outOffer || k == outAnswer || k == outCandidate) && at != 0 {
		m.latency.Observe((now - at).Seconds())
	}
}

var typePrefix = []byte(`{"type":"`)

// outKind classifies a server frame by its leading type field: every frame
// the server writes is made by proto.Encode or splice, which put the type
// first.
func outKind(frame []byte) int {
	rest, ok := bytes.CutPrefix(frame, typePrefix)
	if !ok || len(rest) == 0 {
		return outOther
	}
	for k := outWelcome; k < numOutKinds; k++ {
		name := outKindNames[k]
		if len(rest) > len(name) && rest[len(name)] == '"' && string(rest[:len(name)]) == name {
			return k
		}
	}
	return outOther
}
