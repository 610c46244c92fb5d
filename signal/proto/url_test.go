package proto

import "testing"

func TestSignalURL(t *testing.T) {
	for _, tt := range []struct{ server, room, want string }{
		{"http://127.0.0.1:8080", "demo", "ws://127.0.0.1:8080/ws/demo"},
		{" https://example.com/ ", "a-b", "wss://example.com/ws/a-b"},
		{"https://example.com/call/?x=1#y", "r", "wss://example.com/call/ws/r"},
		{"ws://h:1", "r", "ws://h:1/ws/r"},
		{"wss://h", "r", "wss://h/ws/r"},
	} {
		got, err := SignalURL(tt.server, tt.room)
		if err != nil || got != tt.want {
			t.Errorf("SignalURL(%q, %q) = %q, %v; want %q", tt.server, tt.room, got, err, tt.want)
		}
	}
	for _, bad := range []string{"ftp://h", "localhost:8080", "http://", "::"} {
		if got, err := SignalURL(bad, "r"); err == nil {
			t.Errorf("SignalURL(%q) = %q, want an error", bad, got)
		}
	}
}
