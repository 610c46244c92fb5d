package signal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/videochat/videochat/signal/proto"
)

// Resume tokens are stateless: base64url(payload) "." base64url(mac), where
// payload is "v1\n" room "\n" id "\n" name "\n" expiry (Unix seconds) and
// mac is HMAC-SHA256 over the payload with the server's resume secret. Room
// and name cannot contain a newline, so the fields are unambiguous. Any
// server with the same secret accepts the token, also after a restart.
const (
	resumeVersion  = "v1"
	maxResumeToken = 1024
)

// resumeClaims is what a resume token says.
type resumeClaims struct {
	Room, ID, Name string
	Expires        time.Time
}

// resumeSigner makes and checks resume tokens.
type resumeSigner struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// issue returns a token for peer p in room, valid for the signer's TTL.
func (r *resumeSigner) issue(room string, p proto.PeerInfo) string {
	exp := r.now().Add(r.ttl).Unix()
	payload := strings.Join([]string{resumeVersion, room, p.ID, p.Name, strconv.FormatInt(exp, 10)}, "\n")
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(r.mac([]byte(payload)))
}

func (r *resumeSigner) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, r.secret)
	h.Write(payload)
	return h.Sum(nil)
}

// verify checks tok's signature, payload, room and expiry. It reports
// false for any token it does not accept; the caller then treats the join
// as a new one.
func (r *resumeSigner) verify(tok, room string) (resumeClaims, bool) {
	if len(tok) > maxResumeToken {
		return resumeClaims{}, false
	}
	b64, sig, _ := strings.Cut(tok, ".") // without a ".", the empty MAC does not match
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(b64)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, r.mac(payload)) {
		return resumeClaims{}, false
	}
	f := strings.Split(string(payload), "\n")
	if len(f) != 5 || f[0] != resumeVersion || f[1] != room || !validPeerID(f[2]) {
		return resumeClaims{}, false
	}
	exp, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil || !r.now().Before(time.Unix(exp, 0)) {
		return resumeClaims{}, false
	}
	return resumeClaims{Room: f[1], ID: f[2], Name: f[3], Expires: time.Unix(exp, 0)}, true
}

// validPeerID reports whether id looks like one newPeerID makes.
func validPeerID(id string) bool {
	b, err := hex.DecodeString(id)
	return err == nil && len(b) == peerIDBytes && strings.ToLower(id) == id
}
