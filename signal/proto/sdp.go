package proto

import "strings"

// SendsMedia reports whether an SDP offer or answer sends audio or video:
// whether any m=audio or m=video section that is not rejected (port 0)
// has the direction sendrecv or sendonly (RFC 3264 section 5.1; a
// section without a direction takes the session's, and sendrecv is the
// default). The server uses it to hold a peer whose room token does not
// allow publishing to receive-only offers and answers.
func SendsMedia(sdp string) bool {
	session := "sendrecv"
	inMedia := false // within an m= section
	media := false   // that section is a live audio or video section
	dir := ""        // its direction attribute, if any
	sends := func() bool {
		d := dir
		if d == "" {
			d = session
		}
		return media && (d == "sendrecv" || d == "sendonly")
	}
	for line := range strings.Lines(sdp) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			if inMedia && sends() {
				return true
			}
			inMedia, dir = true, ""
			fields := strings.Fields(line[2:])
			media = len(fields) >= 2 && (fields[0] == "audio" || fields[0] == "video") && fields[1] != "0"
		case line == "a=sendrecv", line == "a=sendonly", line == "a=recvonly", line == "a=inactive":
			if inMedia {
				dir = line[2:]
			} else {
				session = line[2:]
			}
		}
	}
	return inMedia && sends()
}
