package main

import "github.com/videochat/videochat/peer"

// probe remembers the last stats of every remote peer seen during the run,
// so a peer that delivered its media and then left still counts for
// --expect.
type probe struct {
	seen  map[string]peer.PeerStats
	order []string
}

func newProbe() *probe {
	return &probe{seen: make(map[string]peer.PeerStats)}
}

// update records the peers of one snapshot. Their counters only grow, so
// the latest values are the best ones.
func (p *probe) update(s peer.Snapshot) {
	for _, ps := range s.Peers {
		if _, ok := p.seen[ps.ID]; !ok {
			p.order = append(p.order, ps.ID)
		}
		p.seen[ps.ID] = ps
	}
}

// check reports whether n peers delivered video and audio, and if not,
// what was missing.
func (p *probe) check(n int) error {
	all := peer.Snapshot{}
	for _, id := range p.order {
		all.Peers = append(all.Peers, p.seen[id])
	}
	return all.Check(n)
}
