package peer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"unicode/utf8"
)

// Messages of the "chat" data channel (PROTOCOL.md, "Data channel
// messages"): one JSON object per text message, at most MaxMessageBytes.
// parseDataMessage is the only way in: a message it returns has the fields
// of its type, checked; anything else becomes a refusal to send back (the
// browser's web/static/js/messages.js checks the same). An error message is
// never answered with an error.

// Limits of the chat channel's messages.
const (
	MaxMessageBytes = 16 << 10
	maxChatChars    = 4000
	maxFileName     = 255
	maxSafeInt      = 1<<53 - 1 // the largest size a browser can count exactly
)

// Data channel message types.
const (
	msgChat       = "chat"
	msgState      = "state"
	msgFileOffer  = "file-offer"
	msgFileAccept = "file-accept"
	msgFileRefuse = "file-refuse"
	msgFileResult = "file-result"
	msgFileCancel = "file-cancel"
	msgError      = "error"
)

// dataMessage is every message type of the chat channel in one struct.
type dataMessage struct {
	Type string `json:"type"`
	// chat
	Text *string `json:"text,omitempty"`
	// state
	Mic     string `json:"mic,omitempty"`
	Camera  string `json:"camera,omitempty"`
	Screen  *bool  `json:"screen,omitempty"`
	MaxFile *int64 `json:"max_file,omitempty"`
	// files
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Size   *int64 `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	OK     *bool  `json:"ok,omitempty"`
	// file-refuse, file-result, error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	Ref     string `json:"ref,omitempty"`
}

var (
	reID     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	reHex64  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reCode   = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	onOffSet = map[string]bool{"on": true, "off": true}
)

// msgRefusal is why a message was refused: the error message sent back.
type msgRefusal struct {
	Code, Message, Ref string
}

func (e *msgRefusal) Error() string { return e.Code + ": " + e.Message }

// reply is the error message to send back, or nil for a refused error.
func (e *msgRefusal) reply() *dataMessage {
	if e.Ref == msgError {
		return nil
	}
	return &dataMessage{Type: msgError, Code: e.Code, Message: e.Message, Ref: e.Ref}
}

func isSize(v *int64) bool { return v != nil && *v >= 0 && *v <= maxSafeInt }

// parseDataMessage checks one text message of the chat channel.
func parseDataMessage(data []byte, isString bool) (*dataMessage, *msgRefusal) {
	if !isString {
		return nil, &msgRefusal{Code: "bad-message", Message: "messages on the chat channel are JSON text"}
	}
	if len(data) > MaxMessageBytes {
		return nil, &msgRefusal{Code: "too-long", Message: fmt.Sprintf("a message is at most %d bytes", MaxMessageBytes)}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, &msgRefusal{Code: "bad-message", Message: "a message is a JSON object with a string \"type\""}
	}
	var m dataMessage
	if err := json.Unmarshal(probe["type"], &m.Type); err != nil || probe["type"] == nil {
		return nil, &msgRefusal{Code: "bad-message", Message: "a message is a JSON object with a string \"type\""}
	}
	check, ok := dataChecks[m.Type]
	if !ok {
		t := m.Type
		if len(t) > 32 {
			t = t[:32]
		}
		return nil, &msgRefusal{Code: "unknown-type", Message: fmt.Sprintf("unknown message type %q", t), Ref: m.Type}
	}
	bad := func(why string) *msgRefusal { return &msgRefusal{Code: "bad-" + m.Type, Message: why, Ref: m.Type} }
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, bad("a field has the wrong type: " + err.Error())
	}
	if why := check(&m); why != "" {
		return nil, bad(why)
	}
	return &m, nil
}

// dataChecks return "" when a message of their type is valid.
var dataChecks = map[string]func(*dataMessage) string{
	msgChat: func(m *dataMessage) string {
		if m.Text == nil || utf8.RuneCountInString(*m.Text) > maxChatChars {
			return "text must be a string of at most 4000 characters"
		}
		return ""
	},
	msgState: func(m *dataMessage) string {
		if !onOffSet[m.Mic] || !onOffSet[m.Camera] {
			return `mic and camera must be "on" or "off"`
		}
		if m.MaxFile != nil && !isSize(m.MaxFile) {
			return "max_file must be a non-negative integer"
		}
		return ""
	},
	msgFileOffer: func(m *dataMessage) string {
		switch {
		case !reID.MatchString(m.ID):
			return `id must be 1-64 letters, digits, "-" or "_"`
		case m.Name == "" || utf8.RuneCountInString(m.Name) > maxFileName:
			return "name must be 1-255 characters"
		case !isSize(m.Size):
			return "size must be a non-negative integer below 2^53"
		case !reHex64.MatchString(m.SHA256):
			return "sha256 must be 64 lower-case hex digits"
		}
		return ""
	},
	msgFileAccept: func(m *dataMessage) string { return idCheck(m) },
	msgFileCancel: func(m *dataMessage) string { return idCheck(m) },
	msgFileRefuse: func(m *dataMessage) string {
		if idCheck(m) != "" || !reCode.MatchString(m.Code) {
			return "bad id or code"
		}
		return ""
	},
	msgFileResult: func(m *dataMessage) string {
		if idCheck(m) != "" || m.OK == nil {
			return "bad id or ok"
		}
		return ""
	},
	msgError: func(m *dataMessage) string {
		if !reCode.MatchString(m.Code) {
			return "bad code"
		}
		return ""
	},
}

func idCheck(m *dataMessage) string {
	if !reID.MatchString(m.ID) {
		return "bad id"
	}
	return ""
}
