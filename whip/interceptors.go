package whip

// onFirstStream delays an interceptor's BindRTCPWriter until the
// PeerConnection's first remote stream: pion's NACK generator starts a
// 100 ms ticker per PeerConnection at once, also on the room side of a
// WHIP session, whose connections to the receivers receive nothing. Only
// for interceptors whose BindRTCPWriter returns the writer unchanged (the
// NACK generator). (The server's TWCC feedback, recorded on the reading
// goroutine without a ticker, is peer.NewTWCCFeedback.)

import (
	"sync"

	"github.com/pion/interceptor"
)

// onFirstStream wraps a factory: see the file comment.
type onFirstStream struct{ f interceptor.Factory }

func (o onFirstStream) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := o.f.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return &lazyRTCP{Interceptor: i}, nil
}

type lazyRTCP struct {
	interceptor.Interceptor
	mu    sync.Mutex
	w     interceptor.RTCPWriter
	bound bool
}

func (l *lazyRTCP) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
	return w
}

func (l *lazyRTCP) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	l.mu.Lock()
	if !l.bound && l.w != nil {
		l.bound = true
		l.Interceptor.BindRTCPWriter(l.w)
	}
	l.mu.Unlock()
	return l.Interceptor.BindRemoteStream(info, r)
}
