package proto

import (
	"reflect"
	"strings"
	"testing"
)

// TestEncodeStartsWithType: the server classifies frames by the prefix
// {"type":"<type>" without decoding them, so Type must stay the first field
// of Message and must never be omitted, whatever else is set.
func TestEncodeStartsWithType(t *testing.T) {
	f, ok := reflect.TypeFor[Message]().FieldByName("Type")
	if !ok || len(f.Index) != 1 || f.Index[0] != 0 || f.Tag.Get("json") != "type" {
		t.Fatalf("Message.Type is field %v with tag %q: want the first field, json:\"type\"", f.Index, f.Tag.Get("json"))
	}
	mid, idx, user := "0", uint16(0), "u"
	yes := true
	full := Message{ // every field set
		Version: Version, Name: "A", Token: "t", Resume: "r", ID: "id", Room: "room",
		Peers: []PeerInfo{{ID: "p", Name: "P"}}, ICEServers: []ICEServer{{URLs: []string{"stun:x"}}},
		ResumeToken: "rt", Grace: 1, Resumed: true, CanPublish: &yes, Peer: &PeerInfo{ID: "p"},
		From: "f", To: "t", SDP: "v=0",
		Candidate: &ICECandidate{Candidate: "c", SDPMid: &mid, SDPMLineIndex: &idx, UsernameFragment: &user},
		Code:      CodeRoomFull, Message: "m", Ref: "offer",
	}
	for _, typ := range []string{TypeJoin, TypeWelcome, TypePeerJoined, TypePeerLeft, TypeOffer,
		TypeAnswer, TypeCandidate, TypeLeave, TypeError, TypeBye, ""} {
		for _, m := range []Message{{Type: typ}, full} {
			m.Type = typ
			got := string(Encode(m))
			if want := `{"type":"` + typ + `"`; !strings.HasPrefix(got, want) {
				t.Errorf("Encode(%s message) = %.60s…, want it to start with %s", typ, got, want)
			}
		}
	}
}
