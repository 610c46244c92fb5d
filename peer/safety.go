package peer

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Safety codes prove that media is encrypted end to end: DTLS-SRTP keys are
// agreed between the two peers only, and each checks the other's DTLS
// certificate against the fingerprint in the session description it
// received. A man in the middle (the signalling server, say) would have to
// replace the fingerprints, and then the two ends compute different codes.
// The users say their codes aloud and compare them.
//
// The derivation is the browser's (web/static/js/safety.js):
//
//	fp(desc) = "sha-256 " + upper-case hex with colons (the first sha-256
//	           a=fingerprint line of the description)
//	digest   = SHA-256(sort([fp(local), fp(remote)]) joined by "\n")
//	code     = for i in 0..5: big-endian uint32 of digest[4i:4i+4] mod
//	           100000 as 5 digits, groups joined by spaces

var reFingerprint = regexp.MustCompile(`(?m)^a=fingerprint:sha-256 ([0-9A-Fa-f:]+)\r?$`)

// fingerprintOf returns the normalised sha-256 fingerprint in sdp, or "".
func fingerprintOf(sdp string) string {
	m := reFingerprint.FindStringSubmatch(sdp)
	if m == nil {
		return ""
	}
	return "sha-256 " + strings.ToUpper(m[1])
}

// SafetyCode derives the code of a connection from the two SDPs; "" when
// either has no sha-256 fingerprint. The order of the arguments does not
// matter.
func SafetyCode(localSDP, remoteSDP string) string {
	a, b := fingerprintOf(localSDP), fingerprintOf(remoteSDP)
	if a == "" || b == "" {
		return ""
	}
	fps := []string{a, b}
	sort.Strings(fps)
	sum := sha256.Sum256([]byte(strings.Join(fps, "\n")))
	groups := make([]string, 6)
	for i := range groups {
		groups[i] = fmt.Sprintf("%05d", binary.BigEndian.Uint32(sum[4*i:])%100000)
	}
	return strings.Join(groups, " ")
}

// safetyCode returns the connection's code once both descriptions are
// applied ("" before), computing it once.
func (r *remote) safetyCode() string {
	if c, _ := r.feat.code.Load().(string); c != "" {
		return c
	}
	l, rd := r.pc.CurrentLocalDescription(), r.pc.CurrentRemoteDescription()
	if l == nil || rd == nil {
		return ""
	}
	c := SafetyCode(l.SDP, rd.SDP)
	r.feat.code.Store(c)
	return c
}
