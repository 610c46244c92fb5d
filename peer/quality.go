package peer

// Link quality, the browser's rule (web/static/js/monitor.js):
//
//	poor: RTT > 400 ms, or loss > 5 %, or the camera is on and < 5 fps;
//	fair: RTT > 150 ms, or loss > 1 %, or the camera is on and < 15 fps;
//	good: otherwise.
//
// Loss is that of the packets received from the peer during the last
// second; the frame rate is the received video's.

// Quality grades.
const (
	QualityGood = "good"
	QualityFair = "fair"
	QualityPoor = "poor"
)

// Quality grades a link from its RTT (ms), loss (%) and received frame
// rate; the frame rate only counts when the peer's camera is on.
func Quality(rttMs, lossPct, fps float64, cameraOn bool) string {
	bad := func(rtt, loss, f float64) bool {
		return rttMs > rtt || lossPct > loss || (cameraOn && fps < f)
	}
	switch {
	case bad(400, 5, 5):
		return QualityPoor
	case bad(150, 1, 15):
		return QualityFair
	}
	return QualityGood
}
