// Package redisbackend is the Redis implementation of signal.Backend: rooms
// shared by several videochat servers through one Redis server. It is the
// only package that imports the Redis client. DESIGN.md describes the key
// and channel layout, the delivery guarantees and the failure behaviour.
package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/videochat/videochat/signal"
	"github.com/videochat/videochat/signal/proto"
)

var _ signal.Backend = (*Backend)(nil)

// Backend keeps room membership in Redis and carries frames between nodes
// over one pub/sub channel per node. Peers connected to this process are
// local; frames for them are delivered straight to their sinks, frames for
// peers elsewhere are published to their node's channel.
//
// It runs three goroutines, all stopped by Close: the subscriber (pub/sub
// connection, reconnection, health pings), the event loop (delivery of
// envelopes, membership bookkeeping, resynchronisation) and the heartbeat
// (presence key, reaping of dead nodes).
type Backend struct {
	cfg    Config
	log    *slog.Logger
	client *redis.Client
	node   string

	stop      context.CancelFunc
	stopped   <-chan struct{} // closed when the goroutines are to stop
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
	live      atomic.Bool // subscribed and resynchronised
	beaten    atomic.Bool // a heartbeat has set the presence key

	// syncMu orders join scripts (read side) against resynchronisation
	// (write side), so a resync never mistakes a peer whose join script
	// has just run for a stale entry.
	syncMu sync.RWMutex

	mu    sync.Mutex
	rooms map[string]*roomState
	// departed lists, by room, local peers whose Leave (or failed Join)
	// could not reach Redis; the next resynchronisation announces them.
	departed map[string][]proto.PeerInfo
	psub     *redis.PubSub // current subscription, closed by Close

	inbox  chan any      // subscriber → event loop
	ops    chan loopOp   // Join and Leave → event loop
	resync chan struct{} // resynchronisation requests, capacity 1
}

// New returns a Backend for cfg and starts its goroutines. Redis need not
// be reachable yet: until it is, Ready reports why and joins fail with
// signal.ErrUnavailable. ctx bounds only New's first connection check; the
// goroutines run until Close.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opt, err := cfg.redisOptions()
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	b := &Backend{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "redis-backend", "node", cfg.NodeID),
		client:   redis.NewClient(opt),
		node:     cfg.NodeID,
		stop:     stop,
		stopped:  runCtx.Done(),
		rooms:    make(map[string]*roomState),
		departed: make(map[string][]proto.PeerInfo),
		inbox:    make(chan any, 256),
		ops:      make(chan loopOp),
		resync:   make(chan struct{}, 1),
	}
	pingCtx, cancel := b.opContext(ctx)
	if err := b.client.Ping(pingCtx).Err(); err != nil {
		b.log.Warn("redis not reachable yet", "err", err)
	}
	cancel()
	b.wg.Add(3)
	go func() { defer b.wg.Done(); b.subscribeLoop(runCtx) }()
	go func() { defer b.wg.Done(); b.eventLoop(runCtx) }()
	go func() { defer b.wg.Done(); b.heartbeatLoop(runCtx) }()
	return b, nil
}

// NodeID returns the id under which this process is known in Redis.
func (b *Backend) NodeID() string { return b.node }

// Ready reports whether the backend can serve joins: nil while Redis
// answers and this node is subscribed and resynchronised, otherwise an
// error wrapping signal.ErrUnavailable. It is meant for /readyz.
func (b *Backend) Ready(ctx context.Context) error {
	switch {
	case b.closed.Load():
		return fmt.Errorf("%w: closed", signal.ErrUnavailable)
	case !b.live.Load():
		return fmt.Errorf("%w: redis subscription not established", signal.ErrUnavailable)
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: redis ping: %v", signal.ErrUnavailable, err)
	}
	return nil
}

// opContext bounds one Redis call by OpTimeout.
func (b *Backend) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.OpTimeout)
}

// unavailable wraps a Redis failure of op as signal.ErrUnavailable.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %v", op, signal.ErrUnavailable, err)
}

// Join implements signal.Backend. It fails at once with ErrUnavailable
// while this node is not subscribed to Redis, and within OpTimeout when
// Redis does not answer. max <= 0 admits nobody, as in the memory backend.
func (b *Backend) Join(ctx context.Context, room string, p proto.PeerInfo, max int, sink signal.Sink) ([]proto.PeerInfo, error) {
	op := fmt.Sprintf("join %q", room)
	if b.closed.Load() || !b.live.Load() {
		return nil, fmt.Errorf("%s: %w: redis subscription not established", op, signal.ErrUnavailable)
	}
	lp, err := b.addPending(room, p, sink)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	seq, roster, err := b.runJoin(ctx, lp, max)
	if err != nil {
		b.removeLocal(lp)
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := b.submit(loopOp{activate: lp, seq: seq, roster: roster}); err != nil {
		b.removeLocal(lp)
		b.undoJoin(lp)
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	others := make([]proto.PeerInfo, len(roster))
	for i, e := range roster {
		others[i] = e.info
	}
	return others, nil
}

// addPending records a joining peer before its join script runs, so that
// frames sent to it as soon as Redis lists it are held, not lost.
func (b *Backend) addPending(room string, p proto.PeerInfo, sink signal.Sink) (*localPeer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rs := b.rooms[room]
	if rs == nil {
		rs = newRoomState()
		b.rooms[room] = rs
	}
	if _, dup := rs.peers[p.ID]; dup {
		return nil, fmt.Errorf("peer id %q is already in the room", p.ID)
	}
	lp := newLocalPeer(room, p, sink)
	rs.peers[p.ID] = lp
	return lp, nil
}

// runJoin runs the admission script for lp and returns the room change
// number of the join and the roster before it, in join order.
func (b *Backend) runJoin(ctx context.Context, lp *localPeer, max int) (int64, []rosterEntry, error) {
	if max <= 0 {
		return 0, nil, signal.ErrRoomFull
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	b.syncMu.RLock()
	res, err := joinScript.Run(ctx, b.client, nil, prefix, lp.room, lp.info.ID, lp.info.Name, b.node, max).Result()
	if err == nil {
		b.mu.Lock()
		lp.registered = true
		b.mu.Unlock()
	}
	b.syncMu.RUnlock()
	if err != nil {
		// The script may have run before the connection failed (or may
		// yet run, if Redis hangs): the next resynchronisation removes
		// the entry and announces the peer gone. Until it has, the node
		// does not count as live: Ready fails and joins fail fast, so no
		// newcomer is handed a roster that still lists this peer.
		b.mu.Lock()
		b.departed[lp.room] = append(b.departed[lp.room], lp.info)
		b.mu.Unlock()
		b.live.Store(false)
		b.requestResync()
		return 0, nil, unavailable("join script", err)
	}
	seq, roster, err := parseSnapshot(res)
	switch {
	case err != nil:
		return 0, nil, unavailable("join script", err)
	case seq == -1:
		return 0, nil, signal.ErrRoomFull
	case seq == -2:
		return 0, nil, fmt.Errorf("peer id %q is already in the room", lp.info.ID)
	}
	return seq, roster, nil
}

// undoJoin removes from Redis a peer whose join was admitted but could not
// complete; should it fail, resynchronisation or reaping removes it.
func (b *Backend) undoJoin(lp *localPeer) {
	ctx, cancel := b.opContext(context.Background())
	defer cancel()
	if err := leaveScript.Run(ctx, b.client, nil, prefix, lp.room, lp.info.ID, b.node).Err(); err != nil {
		b.log.Debug("undoing an unfinished join", "err", err)
	}
}

// removeLocal forgets local peer lp and stops delivery to it. It reports
// whether lp was still there.
func (b *Backend) removeLocal(lp *localPeer) bool {
	b.mu.Lock()
	rs := b.rooms[lp.room]
	found := rs != nil && rs.peers[lp.info.ID] == lp
	if found {
		delete(rs.peers, lp.info.ID)
		lp.active = false
		if !rs.hasActive() {
			rs.unbase()
		}
		if len(rs.peers) == 0 {
			delete(b.rooms, lp.room)
		}
	}
	b.mu.Unlock()
	lp.close()
	return found
}

// Leave implements signal.Backend. The local peers of the room get
// peer-left through the membership stream, or at once when Redis is
// unreachable; peers on other nodes get it then after resynchronisation,
// and Leave returns an error wrapping ErrUnavailable.
func (b *Backend) Leave(ctx context.Context, room, id string) error {
	b.mu.Lock()
	var lp *localPeer
	if rs := b.rooms[room]; rs != nil {
		lp = rs.peers[id]
	}
	b.mu.Unlock()
	if lp == nil || !b.removeLocal(lp) || b.closed.Load() {
		return nil
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	err := leaveScript.Run(ctx, b.client, nil, prefix, room, id, b.node).Err()
	if err == nil {
		return nil
	}
	b.mu.Lock()
	b.departed[room] = append(b.departed[room], lp.info)
	b.mu.Unlock()
	b.requestResync()
	if subErr := b.submit(loopOp{leftLocally: &lp.info, room: room}); subErr != nil {
		b.log.Debug("leave not applied locally", "err", subErr)
	}
	return unavailable(fmt.Sprintf("leave %q", room), err)
}

// Send implements signal.Backend. A target on this node gets the frame at
// once; otherwise the frame is published to the target's node, and Send
// returns ErrUnavailable if Redis fails or no subscriber received it.
func (b *Backend) Send(ctx context.Context, room, to string, frame []byte) error {
	if b.closed.Load() {
		return signal.ErrUnavailable
	}
	b.mu.Lock()
	var lp *localPeer
	if rs := b.rooms[room]; rs != nil {
		lp = rs.peers[to]
	}
	b.mu.Unlock()
	if lp != nil {
		if !lp.deliver(0, frame) {
			return signal.ErrUnknownPeer
		}
		return nil
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	env := envelope{Kind: kindDirect, Room: room, To: to, Frame: frame}.encode()
	n, err := sendScript.Run(ctx, b.client, nil, prefix, room, to, env).Int64()
	switch {
	case err != nil:
		return unavailable("send", err)
	case n < 0:
		return signal.ErrUnknownPeer
	case n == 0:
		return fmt.Errorf("send: %w: the target's server is not subscribed", signal.ErrUnavailable)
	}
	return nil
}

// Broadcast implements signal.Backend. Local peers get the frame at once;
// it returns ErrUnavailable if Redis fails or a node with members in the
// room had no subscriber.
func (b *Backend) Broadcast(ctx context.Context, room, except string, frame []byte) error {
	if b.closed.Load() {
		return signal.ErrUnavailable
	}
	b.mu.Lock()
	var local []*localPeer
	if rs := b.rooms[room]; rs != nil {
		local = rs.peersExcept(except)
	}
	b.mu.Unlock()
	for _, lp := range local {
		lp.deliver(0, frame)
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	env := envelope{Kind: kindBroadcast, Room: room, Except: except, Frame: frame}.encode()
	missed, err := broadcastScript.Run(ctx, b.client, nil, prefix, room, b.node, env).Int64()
	switch {
	case err != nil:
		return unavailable("broadcast", err)
	case missed > 0:
		return fmt.Errorf("broadcast: %w: %d servers not subscribed", signal.ErrUnavailable, missed)
	}
	return nil
}

// Close implements signal.Backend. It removes this node's peers from Redis
// and announces their departure to the other nodes at once, then stops the
// goroutines and closes the client. Afterwards Join, Send and Broadcast
// return ErrUnavailable and Leave does nothing.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.live.Store(false)
		ctx, cancel := b.opContext(context.Background())
		n, dropErr := dropSelfScript.Run(ctx, b.client, nil, prefix, b.node).Int64()
		cancel()
		if dropErr != nil {
			err = unavailable("close", dropErr)
			b.log.Warn("could not remove this node's peers; survivors will reap them", "err", dropErr)
		} else {
			b.log.Info("closed", "peers_removed", n)
		}
		b.halt()
	})
	return err
}

// halt stops the goroutines, closes every local peer and the client.
func (b *Backend) halt() {
	b.stop()
	b.mu.Lock()
	if b.psub != nil {
		_ = b.psub.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
	b.mu.Lock()
	for _, rs := range b.rooms {
		for _, lp := range rs.peers {
			lp.close()
		}
	}
	b.rooms = make(map[string]*roomState)
	b.mu.Unlock()
	if err := b.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		b.log.Debug("closing redis client", "err", err)
	}
}
