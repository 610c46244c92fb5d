package redisbackend

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reconnection backoff of the subscriber.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// subscribeLoop keeps this node subscribed to its channel, reconnecting
// with backoff. Each new subscription is reported to the event loop, which
// resynchronises; each loss too, which makes the node not live.
func (b *Backend) subscribeLoop(ctx context.Context) {
	backoff := minBackoff
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		connected, err := b.subscribeOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		b.post(ctx, unsubscribed{err: err})
		if connected {
			backoff = minBackoff
		}
		wait.Reset(backoff)
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// subscribeOnce runs one subscription until it fails. It pings the server
// after a heartbeat interval of silence and gives up when the next one
// passes without an answer, so a half-open connection is noticed too. It
// reports whether the subscription was confirmed.
func (b *Backend) subscribeOnce(ctx context.Context) (bool, error) {
	ps := b.client.Subscribe(ctx, channelOf(b.node))
	b.mu.Lock()
	if ctx.Err() != nil {
		b.mu.Unlock()
		_ = ps.Close()
		return false, ctx.Err()
	}
	b.psub = ps
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.psub == ps {
			b.psub = nil
		}
		b.mu.Unlock()
		_ = ps.Close()
	}()
	connected, pinged := false, false
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.cfg.heartbeat())
		if err != nil {
			if !isTimeout(err) || pinged || !connected {
				return connected, err
			}
			pinged = true
			if err := ps.Ping(ctx); err != nil {
				return connected, err
			}
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !connected {
				connected = true
				b.post(ctx, subscribed{})
			}
		case *redis.Message:
			b.post(ctx, m.Payload)
		}
	}
}

// post hands an item to the event loop.
func (b *Backend) post(ctx context.Context, item any) {
	select {
	case b.inbox <- item:
	case <-ctx.Done():
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
