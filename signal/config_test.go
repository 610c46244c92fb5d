package signal

import (
	"testing"
	"time"

	"github.com/videochat/videochat/signal/proto"
)

func TestNewDefaults(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.MaxPeers != 8 || c.ReadLimit != proto.MaxFrameSize || c.SendQueue != 256 ||
		c.PingInterval != 20*time.Second || c.WriteWait != 10*time.Second ||
		c.PongWait != 50*time.Second || c.HandshakeTimeout != 10*time.Second || c.Logger == nil {
		t.Fatalf("defaults = %+v", c)
	}
	if _, ok := s.backend.(*MemoryBackend); !ok || !s.ownsBackend {
		t.Fatalf("default backend is %T (owned %v), want an owned MemoryBackend", s.backend, s.ownsBackend)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative max peers", Config{MaxPeers: -1}},
		{"negative read limit", Config{ReadLimit: -1}},
		{"negative queue", Config{SendQueue: -1}},
		{"negative ping", Config{PingInterval: -time.Second}},
		{"negative handshake", Config{HandshakeTimeout: -time.Second}},
		{"negative relay rate", Config{RelayRate: -2}},
		{"negative relay burst", Config{RelayRate: 10, RelayBurst: -1}},
		{"pong wait not above ping", Config{PingInterval: time.Second, PongWait: time.Second}},
		{"origin without scheme", Config{AllowedOrigins: []string{"example.com"}}},
		{"origin with path", Config{AllowedOrigins: []string{"https://example.com/app"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Fatalf("New(%+v) accepted it", tt.cfg)
			}
		})
	}
}
