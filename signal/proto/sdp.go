package proto

import "strings"

// SendsMedia reports whether an SDP offer or answer sends audio or video:
// whether any m=audio or m=video section that a peer could receive media
// on has the direction sendrecv or sendonly (RFC 3264 section 5.1; a
// section without a direction takes the session's, and sendrecv is the
// default). The server uses it to hold a peer whose room token does not
// allow publishing to receive-only offers and answers.
//
// Port 0 does not make a section safe. Under RFC 9143 a port-0 section
// with a=bundle-only, or one listed in a BUNDLE group, is bundled, not
// rejected, and Chromium and pion treat it as live; and pion v4.2.26
// receives RTP on any section with an a=mid, whatever its port, even one
// outside every BUNDLE group. So a section counts unless its port is 0
// and it has neither a=mid nor a=bundle-only: nothing can route media to
// it. Honest clients mark the sections they reject or stop otherwise:
// Chromium writes a=inactive, pion writes a port-0 section with no mid.
func SendsMedia(sdp string) bool {
	session := "sendrecv"
	var m mediaSection
	inMedia := false
	for line := range strings.Lines(sdp) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			if inMedia && m.sends(session) {
				return true
			}
			inMedia, m = true, mediaSection{}
			fields := strings.Fields(line[2:])
			m.media = len(fields) >= 2 && (fields[0] == "audio" || fields[0] == "video")
			m.port0 = len(fields) >= 2 && isZeroPort(fields[1])
		case line == "a=sendrecv", line == "a=sendonly", line == "a=recvonly", line == "a=inactive":
			if inMedia {
				m.dir = line[2:]
			} else {
				session = line[2:]
			}
		case inMedia && (line == "a=bundle-only" || strings.HasPrefix(line, "a=mid:")):
			m.routable = true
		}
	}
	return inMedia && m.sends(session)
}

// mediaSection is what SendsMedia knows of one m= section.
type mediaSection struct {
	media    bool   // audio or video
	port0    bool   // the m= line's port is 0
	routable bool   // it has an a=mid or a=bundle-only
	dir      string // its direction attribute, if any
}

// sends reports whether the section is an audio or video section, not
// rejected beyond use, that sends; session is the session's direction.
func (m *mediaSection) sends(session string) bool {
	if !m.media || (m.port0 && !m.routable) {
		return false
	}
	d := m.dir
	if d == "" {
		d = session
	}
	return d == "sendrecv" || d == "sendonly"
}

// isZeroPort reports whether an m= line's port field ("0", "00", or "0/2"
// with a port count) is port 0.
func isZeroPort(port string) bool {
	p, _, _ := strings.Cut(port, "/")
	return p != "" && strings.Trim(p, "0") == ""
}
