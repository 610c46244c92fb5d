package redisbackend

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/videochat/videochat/signal/proto"
)

// snapshot is a room's roster as of room change number seq.
type snapshot struct {
	seq    int64
	roster []rosterEntry
	// departed are this node's peers the resync announced as gone; they
	// are never kept in the view as missing remote peers.
	departed []proto.PeerInfo
}

// resynchronise makes Redis and this node agree after the subscription was
// (re)established or the node's presence had lapsed: Redis gets this
// node's connected peers back, loses the ones that left meanwhile, and the
// other nodes are told; every local peer is sent the roster changes it
// missed. Only then does the node count as live again.
//
// Remote peers missing from the fresh roster are not announced as gone at
// once: after Redis lost its data their servers may not have re-registered
// them yet, and a peer-left would tear down calls that still work. They
// stay in the view, and the rooms returned are to be rechecked (recheck)
// once every live server has had time to resynchronise.
func (b *Backend) resynchronise(ctx context.Context) ([]string, error) {
	snaps, err := b.resyncRedis(ctx)
	if err != nil {
		return nil, err
	}
	deferred := b.applySnapshots(snaps, true)
	b.live.Store(true)
	b.log.Info("resynchronised with redis", "rooms", len(snaps), "rooms_to_recheck", len(deferred))
	return deferred, nil
}

// recheck re-reads the rosters of rooms and applies them in full.
func (b *Backend) recheck(ctx context.Context, rooms []string) error {
	snaps := make(map[string]snapshot, len(rooms))
	for _, room := range rooms {
		opCtx, cancel := b.opContext(ctx)
		res, err := snapshotScript.Run(opCtx, b.client, nil, prefix, room).Result()
		cancel()
		if err != nil {
			return fmt.Errorf("recheck room %q: %w", room, err)
		}
		seq, roster, err := parseSnapshot(res)
		if err != nil {
			return fmt.Errorf("recheck room %q: %w", room, err)
		}
		snaps[room] = snapshot{seq: seq, roster: roster}
	}
	b.applySnapshots(snaps, false)
	return nil
}

// resyncRedis runs the resync script for every room that has a local peer,
// an entry of this node in Redis or a departure Redis missed, and returns
// the rooms' rosters.
func (b *Backend) resyncRedis(ctx context.Context) (map[string]snapshot, error) {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	opCtx, cancel := b.opContext(ctx)
	defer cancel()
	if _, err := b.beat(opCtx); err != nil {
		return nil, fmt.Errorf("resync: presence: %w", err)
	}
	b.beaten.Store(true)
	entries, err := b.client.SMembers(opCtx, nodePeersKey(b.node)).Result()
	if err != nil {
		return nil, fmt.Errorf("resync: read this node's peers: %w", err)
	}
	live, departed := b.registeredPeers()
	for _, e := range entries {
		var re [2]string
		if err := json.Unmarshal([]byte(e), &re); err != nil {
			b.log.Warn("ignoring malformed node peer entry", "entry", e)
			continue
		}
		if _, ok := live[re[0]]; !ok {
			live[re[0]] = nil
		}
	}
	for room := range departed {
		if _, ok := live[room]; !ok {
			live[room] = nil
		}
	}
	snaps := make(map[string]snapshot, len(live))
	for room, peers := range live {
		s, err := b.resyncRoom(ctx, room, peers, departed[room])
		if err != nil {
			return nil, err
		}
		s.departed = departed[room]
		snaps[room] = s
		b.forgetDeparted(room, departed[room])
	}
	return snaps, nil
}

// registeredPeers lists, by room, the local peers Redis should list (rooms
// with only pending peers are included with none, so they get a snapshot)
// and the peers that left while Redis was unreachable.
func (b *Backend) registeredPeers() (live, departed map[string][]proto.PeerInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	live = make(map[string][]proto.PeerInfo, len(b.rooms))
	for room, rs := range b.rooms {
		var peers []proto.PeerInfo
		for _, lp := range rs.peers {
			if lp.registered {
				peers = append(peers, lp.info)
			}
		}
		live[room] = peers
	}
	departed = make(map[string][]proto.PeerInfo, len(b.departed))
	for room, peers := range b.departed {
		departed[room] = append([]proto.PeerInfo(nil), peers...)
	}
	return live, departed
}

// forgetDeparted drops the departures that a resync has announced.
func (b *Backend) forgetDeparted(room string, done []proto.PeerInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rest := b.departed[room][len(done):]
	if len(rest) == 0 {
		delete(b.departed, room)
		return
	}
	b.departed[room] = rest
}

// resyncRoom runs the resync script for one room.
func (b *Backend) resyncRoom(ctx context.Context, room string, live, departed []proto.PeerInfo) (snapshot, error) {
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	args := []any{prefix, room, b.node, strconv.Itoa(len(live))}
	for _, p := range append(append([]proto.PeerInfo(nil), live...), departed...) {
		args = append(args, p.ID, p.Name)
	}
	res, err := resyncScript.Run(ctx, b.client, nil, args...).Result()
	if err != nil {
		return snapshot{}, fmt.Errorf("resync room %q: %w", room, err)
	}
	seq, roster, err := parseSnapshot(res)
	if err != nil {
		return snapshot{}, fmt.Errorf("resync room %q: %w", room, err)
	}
	return snapshot{seq: seq, roster: roster}, nil
}

// applySnapshots rebases each room's view on its snapshot and sends every
// local peer the difference between what it knew and the snapshot. With
// deferMissing, remote peers absent from a snapshot stay in the view (see
// resynchronise); it returns the rooms where that happened.
func (b *Backend) applySnapshots(snaps map[string]snapshot, deferMissing bool) []string {
	type update struct {
		lp   *localPeer
		seq  int64
		diff [][]byte
	}
	var updates []update
	var deferred []string
	b.mu.Lock()
	for room, s := range snaps {
		rs := b.rooms[room]
		if rs == nil {
			continue
		}
		rs.backlog = nil
		if !rs.based {
			for _, lp := range rs.peers {
				updates = append(updates, update{lp: lp, seq: s.seq})
			}
			continue
		}
		was, now := rs.members, rosterMap(s.roster)
		if deferMissing && keepMissingRemote(was, now, rs.peers, s.departed) {
			deferred = append(deferred, room)
		}
		rs.members, rs.pos = now, s.seq
		for _, lp := range rs.peers {
			updates = append(updates, update{lp: lp, seq: s.seq, diff: rosterDiff(was, now, lp.info.ID)})
		}
	}
	b.mu.Unlock()
	for _, u := range updates {
		u.lp.resynced(u.seq, u.diff)
	}
	return deferred
}

// keepMissingRemote adds to now the members of was that now lacks, unless
// they are (or were) peers of this node. It reports whether there were any.
func keepMissingRemote(was, now map[string]string, local map[string]*localPeer, departed []proto.PeerInfo) bool {
	own := make(map[string]bool, len(departed))
	for _, p := range departed {
		own[p.ID] = true
	}
	kept := false
	for id, name := range was {
		if _, ok := now[id]; ok || own[id] {
			continue
		}
		if _, ok := local[id]; ok {
			continue
		}
		now[id] = name
		kept = true
	}
	return kept
}
