package proto_test

import (
	"reflect"
	"testing"

	"github.com/videochat/videochat/signal/proto"
)

// FuzzDecode feeds arbitrary frames to Decode and ValidateClient. Neither
// may panic; every error carries a code declared in errors.go and a human
// message; a decoded message re-encodes with Encode and decodes to the same
// Message; validation is stable across that round trip.
// Seeds: testdata/fuzz/FuzzDecode (join, offer, candidate, malformed, …).
func FuzzDecode(f *testing.F) {
	codes := knownCodes(f)
	f.Add([]byte(`{"type":"join","version":1,"name":"Alice"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := proto.Decode(data)
		if err != nil {
			checkErr(t, codes, err)
			return
		}
		again, err := proto.Decode(proto.Encode(m))
		if err != nil {
			t.Fatalf("re-encoded %s refused: %v", proto.Encode(m), err)
		}
		if !reflect.DeepEqual(again, normalized(m)) {
			t.Fatalf("round trip changed the message:\n got %#v\nwant %#v", again, m)
		}
		checkValidation(t, codes, m)
	})
}

// normalized returns m with empty lists set to nil: Encode omits empty
// "peers" and "iceServers" (omitempty), so `"peers":[]` comes back absent.
// That loss is harmless; any other difference is a real round-trip bug.
func normalized(m proto.Message) proto.Message {
	if len(m.Peers) == 0 {
		m.Peers = nil
	}
	if len(m.ICEServers) == 0 {
		m.ICEServers = nil
	}
	return m
}

// checkValidation runs ValidateClient on m and, if it passes, checks that
// the validated message survives another round trip and still passes.
func checkValidation(t *testing.T, codes map[string]bool, m proto.Message) {
	t.Helper()
	v := m
	if err := proto.ValidateClient(&v); err != nil {
		checkErr(t, codes, err)
		if err.Ref != m.Type {
			t.Fatalf("ValidateClient error ref %q, want the message type %q", err.Ref, m.Type)
		}
		return
	}
	again, err := proto.Decode(proto.Encode(v))
	if err != nil {
		t.Fatalf("validated message refused by Decode: %v", err)
	}
	if err := proto.ValidateClient(&again); err != nil {
		t.Fatalf("validated message refused by ValidateClient after a round trip: %v", err)
	}
	if !reflect.DeepEqual(again, normalized(v)) {
		t.Fatalf("validation is not idempotent:\n got %#v\nwant %#v", again, v)
	}
}

func checkErr(t *testing.T, codes map[string]bool, err *proto.Error) {
	t.Helper()
	if !codes[err.Code] {
		t.Fatalf("error %+v has a code not declared in errors.go", err)
	}
	if err.Message == "" {
		t.Fatalf("error %+v has no message", err)
	}
}
