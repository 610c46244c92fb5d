package signalbench

import (
	"context"
	"math/rand/v2"
	"syscall"
	"time"
)

// assignTargets gives every joined peer the next joined peer of its room
// as its target and builds its pre-encoded message.
func (b *bench) assignTargets() {
	byRoom := map[string][]*peer{}
	var rooms []string
	for _, p := range b.peers {
		if p == nil {
			continue
		}
		if byRoom[p.room] == nil {
			rooms = append(rooms, p.room)
		}
		byRoom[p.room] = append(byRoom[p.room], p)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, room := range rooms {
		members := byRoom[room]
		if len(members) < 2 {
			continue
		}
		for i, p := range members {
			p.target = members[(i+1)%len(members)].id
			p.tmpl = newCandidateTemplate(p.target)
			p.phase = rng.Float64()
		}
	}
}

// senders returns the live peers that have a target.
func (b *bench) senders() []*peer {
	var out []*peer
	for _, p := range b.peers {
		if p != nil && p.target != "" && p.alive.Load() {
			out = append(out, p)
		}
	}
	return out
}

// shardResult is what one sender goroutine did in a step.
type shardResult struct {
	sent, behind, writeErrs int64
}

// loadStep offers total messages per second, spread evenly over the
// senders, for Duration, then waits for the stragglers.
func (b *bench) loadStep(ctx context.Context, total float64) LoadReport {
	senders := b.senders()
	rep := LoadReport{OfferedRate: total, Senders: len(senders)}
	if len(senders) == 0 {
		b.note("load step %.0f/s: no peer has a room-mate to send to", total)
		return rep
	}
	perPeer := total / float64(len(senders))
	deadline := time.Now().Add(b.cfg.Duration + b.cfg.Drain + 5*time.Second)
	for _, p := range senders {
		p.setWriteDeadline(deadline)
	}
	st := b.rec.begin()
	cpu0, own0, shed0 := b.serverCPU(), ownCPU(), b.serverShed()
	start := time.Now()
	results := b.runShards(ctx, senders, perPeer, start)
	for _, r := range results {
		rep.Sent += r.sent
		rep.Behind += r.behind
		rep.WriteErrors += r.writeErrs
	}
	b.drain(ctx, st, rep.Sent)
	elapsed := time.Since(start)
	cpu1, own1, shed1 := b.serverCPU(), ownCPU(), b.serverShed()
	b.rec.begin() // late arrivals no longer count for this step

	secs := b.cfg.Duration.Seconds()
	rep.SentRate = float64(rep.Sent) / secs
	rep.Received = st.received.Load()
	rep.RelayedRate = float64(rep.Received) / secs
	rep.Lost = rep.Sent - rep.Received
	rep.Latency = latencyOf(&st.latency)
	rep.GeneratorCPU = (own1 - own0).Seconds() / elapsed.Seconds()
	if cpu0 != nil && cpu1 != nil {
		v := (*cpu1 - *cpu0).Seconds() / elapsed.Seconds()
		rep.ServerCPU = &v
	}
	if shed0 != nil && shed1 != nil {
		v := int64(*shed1 - *shed0)
		rep.Shed = &v
	}
	rep.Errors, rep.Evictions = st.counts()
	return rep
}

// runShards splits the senders over Shards goroutines and waits for them.
func (b *bench) runShards(ctx context.Context, senders []*peer, perPeer float64, start time.Time) []shardResult {
	n := min(b.cfg.Shards, len(senders))
	results := make([]shardResult, n)
	done := make(chan struct{})
	for s := range n {
		var mine []*peer
		for i := s; i < len(senders); i += n {
			mine = append(mine, senders[i])
		}
		go func() {
			defer func() { done <- struct{}{} }()
			results[s] = b.sendLoop(ctx, mine, perPeer, start)
		}()
	}
	for range n {
		<-done
	}
	return results
}

// sendLoop paces the messages of its peers on a ticker: at each tick every
// peer sends what its rate owes since start, stamped with the time of
// sending, in one write. A peer owing more than maxBacklog of its messages
// skips the excess (counted as behind) rather than bursting.
func (b *bench) sendLoop(ctx context.Context, peers []*peer, perPeer float64, start time.Time) shardResult {
	var res shardResult
	sent := make([]int64, len(peers))
	maxBurst := int64(perPeer*0.05) + 1 // 50 ms worth
	buf := make([]byte, 0, 4096)
	tick := time.NewTicker(b.cfg.Tick)
	defer tick.Stop()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return res
		case now = <-tick.C:
		}
		elapsed := min(now.Sub(start), b.cfg.Duration)
		owed := perPeer * elapsed.Seconds()
		for i, p := range peers {
			due := int64(owed+p.phase) - sent[i]
			if due <= 0 || !p.alive.Load() {
				continue
			}
			if due > maxBurst {
				res.behind += due - maxBurst
				sent[i] += due - maxBurst
				due = maxBurst
			}
			ts := b.rec.now()
			buf = buf[:0]
			for range due {
				buf = p.tmpl.appendStamped(buf, ts)
			}
			sent[i] += due
			if err := p.write(buf); err != nil {
				res.writeErrs++
				p.alive.Store(false)
				continue
			}
			res.sent += due
		}
		if elapsed >= b.cfg.Duration {
			return res
		}
	}
}

// drain waits until every sent message came back, no message arrived for
// a while, or Drain has passed.
func (b *bench) drain(ctx context.Context, st *stepStats, sent int64) {
	limit := time.NewTimer(b.cfg.Drain)
	defer limit.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	last, lastChange := st.received.Load(), time.Now()
	for {
		got := st.received.Load()
		if got >= sent {
			return
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > 500*time.Millisecond {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-limit.C:
			return
		case <-poll.C:
		}
	}
}

// ownCPU is the CPU time this process has used.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
