package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

func aliveKey(node string) string { return prefix + "node:" + node + ":alive" }

// nodesKey is the set of nodes that may hold peers; survivors reap the
// members whose presence key has expired.
const nodesKey = prefix + "nodes"

// heartbeatLoop refreshes this node's presence every PresenceTTL/3 and
// reaps nodes whose presence has expired.
func (b *Backend) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.heartbeat())
	defer t.Stop()
	failing := false
	for {
		err := b.heartbeatOnce(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			b.log.Warn("heartbeat failed", "err", err)
		case err == nil && failing:
			b.log.Info("heartbeat recovered")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// heartbeatOnce refreshes presence, asks for a resynchronisation if the
// presence key had lapsed since the last beat (the node may have been
// reaped), and reaps dead nodes.
func (b *Backend) heartbeatOnce(ctx context.Context) error {
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	existed, err := b.beat(ctx)
	if err != nil {
		return err
	}
	if !existed && b.beaten.Swap(true) {
		b.log.Warn("presence key had expired; resynchronising")
		b.requestResync()
	}
	reaped, err := reapScript.Run(ctx, b.client, nil, prefix, b.node).StringSlice()
	if err != nil {
		return fmt.Errorf("reap: %w", err)
	}
	for _, n := range reaped {
		b.log.Warn("reaped dead node", "dead_node", n)
	}
	return nil
}

// beat sets this node's presence key and lists the node in the nodes set,
// in that order, so a listed node always has had a presence key. It
// reports whether the key still existed.
func (b *Backend) beat(ctx context.Context) (bool, error) {
	pipe := b.client.Pipeline()
	set := pipe.SetArgs(ctx, aliveKey(b.node), b.node, redis.SetArgs{TTL: b.cfg.PresenceTTL, Get: true})
	pipe.SAdd(ctx, nodesKey, b.node)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return set.Err() == nil, nil
}
