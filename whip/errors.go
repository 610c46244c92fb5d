package whip

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/videochat/videochat/signal/proto"
)

// httpError is a refusal: an HTTP status and a body "code: message\n".
// The codes are stable (PROTOCOL.md lists them); internal detail goes to
// the log, never into the body.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, format string, args ...any) *httpError {
	return &httpError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// Codes of the refusals.
const (
	codeBadRequest    = "bad-request"
	codeBadSDP        = "bad-sdp"
	codeNoMedia       = "no-media"
	codeNoCodec       = "no-codec"
	codeTooLarge      = "too-large"
	codeContentType   = "unsupported-media-type"
	codeMethod        = "method-not-allowed"
	codeUnauthorized  = proto.CodeUnauthorized
	codeForbidden     = proto.CodeForbidden
	codeNotFound      = "not-found"
	codeRoomFull      = proto.CodeRoomFull
	codeConflict      = "conflict"
	codePrecondition  = "precondition-failed"
	codeUnavailable   = proto.CodeUnavailable
	codeNotPublishing = "not-publishing"
	codeRenegotiation = "renegotiation-unsupported"
)

func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = errorf(http.StatusInternalServerError, proto.CodeInternal, "internal error; see the server log")
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if he.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="videochat"`)
	}
	w.WriteHeader(he.status)
	_, _ = fmt.Fprintf(w, "%s: %s\n", he.code, he.msg)
}

// roomError maps a room participant's failure to join to an answer.
func roomError(err error) *httpError {
	var perr *proto.Error
	if errors.As(err, &perr) {
		switch perr.Code {
		case proto.CodeRoomFull:
			return errorf(http.StatusConflict, codeRoomFull, "the room is full (--max-peers)")
		case proto.CodeUnauthorized:
			return errorf(http.StatusUnauthorized, codeUnauthorized, "a valid room token for this room is required")
		case proto.CodeBadName:
			return errorf(http.StatusBadRequest, proto.CodeBadName, "%s", perr.Message)
		case proto.CodeRoomLimit:
			return errorf(http.StatusServiceUnavailable, proto.CodeRoomLimit, "the server holds its maximum number of rooms")
		}
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the room refused the session: %s", perr.Code)
	}
	return errorf(http.StatusServiceUnavailable, codeUnavailable, "could not join the room")
}
