package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are defined with HMAC-SHA1.
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxPeerIDLen is the longest peer id accepted in a TURN REST username.
const MaxPeerIDLen = 128

// ErrBadUsername is wrapped by ParseUsername's errors.
var ErrBadUsername = errors.New("malformed TURN REST username")

// Credentials returns TURN REST credentials for peerID valid for ttl from
// now: username "<unix-expiry>:<peerID>" and password
// base64(HMAC-SHA1(secret, username)), as coturn's use-auth-secret expects.
func Credentials(secret []byte, peerID string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + peerID
	return username, Password(secret, username)
}

// Password returns base64(HMAC-SHA1(secret, username)).
func Password(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ParseUsername splits a TURN REST username made by Credentials. It is
// strict: the expiry is a canonical positive decimal Unix time (no sign, no
// leading zeros), followed by one colon and a peer id of 1 to MaxPeerIDLen
// characters from [A-Za-z0-9._~-].
func ParseUsername(u string) (expiry time.Time, peerID string, err error) {
	ts, id, ok := strings.Cut(u, ":")
	if !ok {
		return time.Time{}, "", fmt.Errorf("%w: no colon", ErrBadUsername)
	}
	secs, err := parseExpiry(ts)
	if err != nil {
		return time.Time{}, "", err
	}
	if err := checkPeerID(id); err != nil {
		return time.Time{}, "", err
	}
	return time.Unix(secs, 0), id, nil
}

// parseExpiry parses a canonical positive decimal number of seconds.
func parseExpiry(ts string) (int64, error) {
	if ts == "" || len(ts) > 19 || (ts[0] == '0') {
		return 0, fmt.Errorf("%w: expiry %q is not a canonical positive number", ErrBadUsername, ts)
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, fmt.Errorf("%w: expiry %q is not a number", ErrBadUsername, ts)
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: expiry %q out of range", ErrBadUsername, ts)
	}
	return secs, nil
}

// checkPeerID accepts 1 to MaxPeerIDLen characters from [A-Za-z0-9._~-].
func checkPeerID(id string) error {
	if id == "" || len(id) > MaxPeerIDLen {
		return fmt.Errorf("%w: peer id length %d not in 1..%d", ErrBadUsername, len(id), MaxPeerIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '~' || c == '-'
		if !ok {
			return fmt.Errorf("%w: peer id has character %q", ErrBadUsername, c)
		}
	}
	return nil
}
