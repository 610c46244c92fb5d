package web_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/videochat/videochat/internal/browsertest"
)

// shareButton returns the aria-pressed state and label of #share-screen.
func shareButton(p *participant) (pressed, label string) {
	type button struct{ Pressed, Label string }
	b := browsertest.Eval[button](p.Page, `(() => {
		const b = document.getElementById('share-screen');
		return {Pressed: b.getAttribute('aria-pressed'), Label: b.textContent};
	})()`)
	return b.Pressed, b.Label
}

// localTransform returns the computed CSS transform of p's local preview.
func localTransform(p *participant) string {
	return browsertest.Eval[string](p.Page, `getComputedStyle(document.getElementById('local-video')).transform`)
}

// TestScreenShare shares the screen from alice to bob and comes back to the
// camera, by the button and when the shared source ends by itself, all by
// replaceTrack on the same connection without renegotiating.
func TestScreenShare(t *testing.T) {
	s := startServer(t, 0)
	alice := joinProbed(t, s, "share", "alice", browsertest.Options{})
	bob := join(t, s, "share", "bob")
	sel := remoteVideo(alice.id)
	bob.WaitFramesDecoded(alice.id, minFrames)
	bob.WaitNonBlack(sel)
	bob.WaitFor("alice's camera (4:3, not magenta)", aspectCond(sel, 4, 3)+" && "+notMagentaCond(sel), 0)
	watchConnection(alice, bob.id)
	watchConnection(bob, alice.id)
	videoSender := senderJS(bob.id, "video")

	// sharing checks alice's page while she shares the track the probe
	// handed out.
	sharing := func(t *testing.T) {
		t.Helper()
		pg := alice.For(t)
		pg.WaitFor("share button pressed", `document.getElementById('share-screen').getAttribute('aria-pressed') === 'true'`, 0)
		if _, label := shareButton(alice); label != "Back to camera" {
			t.Errorf("share button label while sharing = %q", label)
		}
		pg.WaitFor("alice's video sender sending the shared screen", videoSender+`.track === window.__media.shared`, 0)
		if !browsertest.Eval[bool](pg, `document.getElementById('local-video').srcObject.getVideoTracks()[0] === window.__media.shared`) {
			t.Errorf("alice's preview does not show the shared screen")
		}
		if tr := localTransform(alice); tr != "none" {
			t.Errorf("alice's preview of her screen has transform %q, want none (not mirrored)", tr)
		}
	}
	// backOnCamera checks both pages after alice came back to her camera.
	backOnCamera := func(t *testing.T, how string) {
		t.Helper()
		pg := alice.For(t)
		pg.WaitFor("share button released "+how, `document.getElementById('share-screen').getAttribute('aria-pressed') === 'false'`, 0)
		if _, label := shareButton(alice); label != "Share screen" {
			t.Errorf("share button label after sharing = %q", label)
		}
		pg.WaitFor("camera sent again "+how, videoSender+`.track === window.__watch.camera && window.__watch.camera.readyState === 'live'`, 0)
		if st := browsertest.Eval[string](pg, `window.__media.shared.readyState`); st != "ended" {
			t.Errorf("shared track is %q after coming back to the camera, want ended", st)
		}
		if !browsertest.Eval[bool](pg, `document.getElementById('local-video').srcObject.getVideoTracks()[0] === window.__watch.camera`) {
			t.Errorf("alice's preview does not show her camera again")
		}
		if tr := localTransform(alice); !strings.HasPrefix(tr, "matrix(-1") {
			t.Errorf("alice's preview of her camera has transform %q, want it mirrored", tr)
		}
		bp := bob.For(t)
		bp.WaitFor("alice's tile unpinned "+how, tileOf(alice.id)+`.dataset.pinned !== 'true'`, 0)
		d := bp.WaitFor("alice's camera back on bob's page "+how, aspectCond(sel, 4, 3)+" && "+notMagentaCond(sel), 0)
		t.Logf("bob sees alice's camera again %v after she came back (%s), centre %s", d, how, centreRGB(bob.Page, sel))
		bp.WaitNonBlack(sel)
		n, err := bob.FramesDecoded(alice.id)
		if err != nil {
			t.Fatal(err)
		}
		bp.WaitFramesDecoded(alice.id, n+minFrames)
	}

	t.Run("browser's own getDisplayMedia", func(t *testing.T) {
		browsertest.Eval[bool](alice.Page, `(window.__media.mode = 'real', true)`)
		alice.For(t).Click("#share-screen")
		sharing(t)
		label := browsertest.Eval[string](alice.Page, `window.__media.shared.label`)
		// The synthetic screen is 16:9, the fake camera 4:3.
		d := bob.For(t).WaitFor("alice's 16:9 screen on bob's page", aspectCond(sel, 16, 9), 0)
		t.Logf("bob sees alice's screen %q after %v", label, d)
		alice.For(t).Click("#share-screen")
		backOnCamera(t, "by the button")
	})

	browsertest.Eval[bool](alice.Page, `(window.__media.mode = 'magenta', true)`)
	shareMagenta := func(t *testing.T) {
		t.Helper()
		alice.For(t).Click("#share-screen")
		sharing(t)
		d := bob.For(t).WaitFor("magenta screen on bob's page", magentaCond(sel), 0)
		t.Logf("bob sees the magenta screen %v after alice's page shows sharing, centre %s", d, centreRGB(bob.Page, sel))
		bob.For(t).WaitFor("alice's screen share pinned on bob's page", tileOf(alice.id)+`.dataset.screen === 'true' && `+tileOf(alice.id)+`.dataset.pinned === 'true'`, 0)
	}

	t.Run("back by the button", func(t *testing.T) {
		shareMagenta(t)
		alice.For(t).Click("#share-screen")
		backOnCamera(t, "by the button")
	})

	t.Run("double click shares once", func(t *testing.T) {
		before := browsertest.Eval[int](alice.Page, `window.__media.display.length`)
		browsertest.Eval[bool](alice.Page, `((b) => (b.click(), b.click(), true))(document.getElementById('share-screen'))`)
		sharing(t)
		bob.For(t).WaitFor("magenta screen on bob's page", magentaCond(sel), 0)
		if n := browsertest.Eval[int](alice.Page, `window.__media.display.length`) - before; n != 1 {
			t.Errorf("a double click called getDisplayMedia %d times, want 1", n)
		}
		alice.For(t).Click("#share-screen")
		backOnCamera(t, "by the button")
	})

	t.Run("back when the source ends", func(t *testing.T) {
		shareMagenta(t)
		if !browsertest.Eval[bool](alice.Page, `window.__media.end()`) {
			t.Fatal("the stand-in screen had ended already")
		}
		backOnCamera(t, "when the shared source ended")
	})

	t.Run("camera toggle while sharing", func(t *testing.T) {
		// Turning the camera off while sharing stops the shared picture;
		// coming back brings the camera back still off, as the button says.
		shareMagenta(t)
		alice.For(t).Click("#toggle-video")
		bob.For(t).WaitFor("alice's screen black", darkCond(sel), 0)
		alice.For(t).Click("#share-screen")
		alice.For(t).WaitFor("camera sent, disabled", videoSender+`.track === window.__watch.camera && !window.__watch.camera.enabled`, 0)
		bob.For(t).WaitFor("alice's camera black on bob's page", aspectCond(sel, 4, 3)+" && "+darkCond(sel), 0)
		alice.For(t).Click("#toggle-video")
		bob.For(t).WaitNonBlack(sel)
	})

	if n := browsertest.Eval[int](alice.Page, `window.__media.display.length`); n != 5 {
		t.Errorf("getDisplayMedia called %d times, want 5", n)
	}
	checkNoRenegotiation(t, alice, bob.id)
	checkNoRenegotiation(t, bob, alice.id)
}

// darkCond is a JavaScript condition: every pixel of the <video> matching
// selector is nearly black.
func darkCond(selector string) string {
	return fmt.Sprintf(`(() => {
		const v = document.querySelector(%s);
		if (!v || !v.videoWidth) return false;
		const c = document.createElement('canvas'); c.width = 64; c.height = 48;
		const g = c.getContext('2d', {willReadFrequently: true}); g.drawImage(v, 0, 0, 64, 48);
		const d = g.getImageData(0, 0, 64, 48).data;
		let max = 0; for (let i = 0; i < d.length; i += 4) max = Math.max(max, d[i], d[i + 1], d[i + 2]);
		return max < 20;
	})()`, strconv.Quote(selector))
}

// Audio energy (getStats totalAudioEnergy) received over 100 packets (2 s).
// Chromium's fake microphone beeps; its audio processing makes the energy
// of 2 s of it vary from about 1e-3 to 0.6 between runs, while a disabled
// track yields digital silence (1e-9 to 1e-6, the decoder's fade-out).
const (
	liveEnergy   = 1e-4 // at least this much from a live microphone
	silentEnergy = 1e-5 // less than this from a muted one
)

// TestMicToggle mutes alice's microphone: her audio sender's track is
// disabled, bob keeps receiving audio packets but their energy stops
// growing, and unmuting brings the sound back. (The camera toggle is in
// TestMeshCall.)
func TestMicToggle(t *testing.T) {
	s := startServer(t, 0)
	alice := join(t, s, "mic", "alice")
	bob := join(t, s, "mic", "bob")
	bob.WaitFramesDecoded(alice.id, 0)
	audioSender := senderJS(bob.id, "audio")

	// energyOver returns how much audio energy bob received from alice
	// while 100 audio packets (2 s of 20 ms packets) arrived, after 50
	// more packets (1 s) for a change to take effect.
	energyOver := func(t *testing.T) float64 {
		t.Helper()
		pg := bob.For(t)
		a := browsertest.Eval[audioIn](pg, audioInJS(alice.id))
		start := waitAudioPackets(pg, alice.id, a.Packets+50)
		end := waitAudioPackets(pg, alice.id, start.Packets+100)
		return end.Energy - start.Energy
	}

	on := energyOver(t)
	t.Logf("audio energy received over 2 s with the mic on: %g", on)
	if on < liveEnergy {
		t.Fatalf("bob received audio energy %g from alice's live microphone, want ≥ %g", on, liveEnergy)
	}

	alice.For(t).Click("#toggle-audio")
	if !browsertest.Eval[bool](alice.Page, `document.getElementById('toggle-audio').getAttribute('aria-pressed') === 'true' &&
		document.getElementById('toggle-audio').textContent === 'Unmute'`) {
		t.Errorf("#toggle-audio does not show muted")
	}
	if browsertest.Eval[bool](alice.Page, audioSender+`.track.enabled`) {
		t.Fatalf("alice's audio sender track is still enabled after muting")
	}
	off := energyOver(t)
	t.Logf("audio energy received over 2 s with the mic muted: %g", off)
	if off >= silentEnergy {
		t.Errorf("audio energy while muted = %g, want < %g (with the mic on: %g)", off, silentEnergy, on)
	}

	alice.For(t).Click("#toggle-audio")
	if !browsertest.Eval[bool](alice.Page, audioSender+`.track.enabled`) {
		t.Fatalf("alice's audio sender track is still disabled after unmuting")
	}
	if again := energyOver(t); again < liveEnergy {
		t.Errorf("audio energy after unmuting = %g, want ≥ %g (before muting: %g)", again, liveEnergy, on)
	} else {
		t.Logf("audio energy received over 2 s after unmuting: %g", again)
	}
}

// pickDevice chooses in the <select> #id, as a user does, the option
// labelled label, or the first one not in use when label is "", and returns
// its deviceId.
func pickDevice(t *testing.T, p *participant, id, label string) string {
	t.Helper()
	pg := p.For(t)
	pg.WaitFor("#"+id+" offering two devices", fmt.Sprintf(`((s) => !s.hidden && s.options.length >= 2)(document.getElementById(%s))`, strconv.Quote(id)), 0)
	return browsertest.Eval[string](pg, fmt.Sprintf(`(() => {
		const s = document.getElementById(%s);
		const label = %s;
		const other = [...s.options].find((o) => label ? o.textContent === label : !o.selected);
		if (!other) return '';
		s.value = other.value;
		s.dispatchEvent(new Event('change', {bubbles: true}));
		return other.value;
	})()`, strconv.Quote(id), strconv.Quote(label)))
}

// TestDeviceSelection switches alice's camera and microphone between
// Chromium's fake devices from the <select>s of the call page: the new
// device is opened by its deviceId and replaces the old track on the same
// connection, and bob keeps receiving. With device-count=3 Chromium fakes
// three cameras and three microphones; its second camera, fake_device_1,
// delivers Y16 (depth) frames that WebRTC does not encode, so the camera
// switch goes to fake_device_2 (MJPEG), which a real webcam resembles.
func TestDeviceSelection(t *testing.T) {
	s := startServer(t, 0)
	alice := joinProbed(t, s, "devices", "alice", browsertest.Options{
		Flags: map[string]any{"use-fake-device-for-media-stream": "device-count=3"},
	})
	bob := join(t, s, "devices", "bob")
	sel := remoteVideo(alice.id)
	bob.WaitFramesDecoded(alice.id, minFrames)
	bob.WaitNonBlack(sel)
	watchConnection(alice, bob.id)
	watchConnection(bob, alice.id)

	for _, c := range []struct{ kind, selectID, old, label string }{
		{"video", "camera-select", "camera", "fake_device_2"},
		{"audio", "mic-select", "mic", ""},
	} {
		t.Run(c.kind, func(t *testing.T) {
			pg := alice.For(t)
			sender := senderJS(bob.id, c.kind)
			inUse := browsertest.Eval[string](pg, fmt.Sprintf(`window.__watch.%s.getSettings().deviceId`, c.old))
			if sel := browsertest.Eval[string](pg, fmt.Sprintf(`document.getElementById(%s).value`, strconv.Quote(c.selectID))); sel != inUse {
				t.Errorf("#%s shows %q, the device in use is %q", c.selectID, sel, inUse)
			}
			chosen := pickDevice(t, alice, c.selectID, c.label)
			if chosen == "" || chosen == inUse {
				t.Fatalf("#%s: picked %q (in use: %q)", c.selectID, chosen, inUse)
			}
			d := pg.WaitFor(c.kind+" sender switched to "+chosen, fmt.Sprintf(`((tr) => tr && tr !== window.__watch.%s &&
				tr.readyState === 'live' && tr.getSettings().deviceId === %s)(%s.track)`, c.old, strconv.Quote(chosen), sender), 0)
			t.Logf("%s: %s → %s in %v", c.kind, inUse, chosen, d)
			constraint := browsertest.Eval[string](pg, fmt.Sprintf(`((c) => c && c[%s] && c[%[1]s].deviceId ? JSON.stringify(c[%[1]s].deviceId) : '')(window.__media.user.at(-1))`, strconv.Quote(c.kind)))
			if want := fmt.Sprintf(`{"exact":%q}`, chosen); constraint != want {
				t.Errorf("last getUserMedia %s deviceId constraint = %s, want %s", c.kind, constraint, want)
			}
			if st := browsertest.Eval[string](pg, fmt.Sprintf(`window.__watch.%s.readyState`, c.old)); st != "ended" {
				t.Errorf("the old %s track is %q, want ended", c.kind, st)
			}
			if !browsertest.Eval[bool](pg, fmt.Sprintf(`document.getElementById('local-video').srcObject.getTracks().includes(%s.track)`, sender)) {
				t.Errorf("alice's preview stream lacks the new %s track", c.kind)
			}
			bp := bob.For(t)
			if c.kind == "video" {
				n, err := bob.FramesDecoded(alice.id)
				if err != nil {
					t.Fatal(err)
				}
				bp.WaitFramesDecoded(alice.id, n+minFrames)
				bp.WaitNonBlack(sel)
				return
			}
			a := browsertest.Eval[audioIn](bp, audioInJS(alice.id))
			start := waitAudioPackets(bp, alice.id, a.Packets+50)
			end := waitAudioPackets(bp, alice.id, start.Packets+100)
			t.Logf("bob: audio energy over 2 s from the new microphone: %g", end.Energy-start.Energy)
			if e := end.Energy - start.Energy; e < liveEnergy {
				t.Errorf("bob receives audio energy %g from alice's new microphone, want ≥ %g", e, liveEnergy)
			}
		})
	}
	t.Run("failed switch", func(t *testing.T) {
		pg := alice.For(t)
		sender := senderJS(bob.id, "video")
		browsertest.Eval[bool](pg, `(window.__before = `+sender+`.track, window.__media.failUser = 'NotReadableError', true)`)
		inUse := browsertest.Eval[string](pg, `window.__before.getSettings().deviceId`)
		chosen := pickDevice(t, alice, "camera-select", "")
		if chosen == "" || chosen == inUse {
			t.Fatalf("picked %q (in use: %q)", chosen, inUse)
		}
		pg.WaitFor("an error notice", `document.getElementById('notices').textContent.includes('Could not switch device')`, 0)
		pg.WaitFor("#camera-select back on the camera in use", fmt.Sprintf(`document.getElementById('camera-select').value === %s`, strconv.Quote(inUse)), 0)
		if !browsertest.Eval[bool](pg, sender+`.track === window.__before && window.__before.readyState === 'live'`) {
			t.Errorf("a failed switch changed or stopped the camera being sent")
		}
		n, err := bob.FramesDecoded(alice.id)
		if err != nil {
			t.Fatal(err)
		}
		bob.For(t).WaitFramesDecoded(alice.id, n+minFrames)
	})
	checkNoRenegotiation(t, alice, bob.id)
	checkNoRenegotiation(t, bob, alice.id)
}

// layout is what TestPhoneLayout measures on the call page.
type layout struct {
	InnerWidth, InnerHeight, ScrollWidth int
	// Problems lists the controls that are hidden, outside the viewport or
	// covered by another element.
	Problems []string
}

// layoutJS measures the page's horizontal overflow and where the call
// controls, the tiles and the chat form are.
const layoutJS = `(() => {
	const out = {InnerWidth: innerWidth, InnerHeight: innerHeight, ScrollWidth: document.documentElement.scrollWidth, Problems: []};
	const must = ['#toggle-audio', '#toggle-video', '#share-screen', '#camera-select', '#mic-select', '#leave', '#chat-input', '#chat-form button[type=submit]', '#local-video', 'video[data-peer-id]'];
	for (const sel of must) {
		const el = document.querySelector(sel);
		if (!el) { out.Problems.push(sel + ': missing'); continue; }
		el.scrollIntoView({block: 'nearest', inline: 'nearest'});
		const r = el.getBoundingClientRect();
		if (r.width < 1 || r.height < 1) { out.Problems.push(sel + ': not displayed'); continue; }
		if (r.left < 0 || r.right > innerWidth + 0.5) out.Problems.push(sel + ': x ' + r.left + '…' + r.right + ' outside 0…' + innerWidth);
		if (r.top < 0 || r.bottom > innerHeight + 0.5) out.Problems.push(sel + ': y ' + r.top + '…' + r.bottom + ' outside 0…' + innerHeight + ' after scrolling to it');
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		if (!hit || !(el === hit || el.contains(hit) || hit.contains(el) && hit.tagName === 'FIGURE')) out.Problems.push(sel + ': covered by ' + (hit ? hit.outerHTML.slice(0, 60) : 'nothing'));
	}
	const controls = document.querySelector('.controls').getBoundingClientRect();
	scrollTo(0, 0);
	if (controls.height > innerHeight / 3) out.Problems.push('controls take ' + controls.height + ' px of ' + innerHeight);
	return out;
})()`

// TestPhoneLayout joins a call at a phone's viewport (390×844 CSS px): the
// page does not scroll sideways and every control, the tiles and the chat
// form are shown, inside the viewport and not covered. With
// VIDEOCHAT_PHONE_SCREENSHOT=path it also saves what the phone shows.
func TestPhoneLayout(t *testing.T) {
	s := startServer(t, 0)
	bob := join(t, s, "phone", "bob")
	// Three fake cameras and microphones: the device <select>s show too.
	phone := browsertest.Launch(t, browsertest.Options{Name: "phone",
		Flags: map[string]any{"use-fake-device-for-media-stream": "device-count=3"}})
	// A headless window is at least 500 px wide: emulate the phone's screen.
	phone.Do("emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
	phone.Navigate(s.roomURL("phone", "a phone user with a rather long name"))
	phone.WaitFor("joined", `window.videochat && window.videochat.state === 'joined'`, 0)
	phone.WaitFramesDecoded(bob.id, minFrames)
	phone.WaitNonBlack(remoteVideo(bob.id))
	phone.SetValue("#chat-input", "a-very-long-chat-line-without-any-space-"+strconv.Itoa(1<<30)+"-that-must-wrap-inside-the-panel")
	phone.Click(`#chat-form button[type=submit]`)
	phone.WaitFor("chat line shown", `document.querySelector('#chat-log').children.length === 1`, 0)

	phone.WaitFor("device selects shown", `!document.getElementById('camera-select').hidden && !document.getElementById('mic-select').hidden`, 0)
	l := browsertest.Eval[layout](phone, layoutJS)
	if path := os.Getenv("VIDEOCHAT_PHONE_SCREENSHOT"); path != "" {
		if err := phone.SaveScreenshot(path); err != nil {
			t.Error(err)
		}
	}
	t.Logf("phone: viewport %d×%d, scrollWidth %d", l.InnerWidth, l.InnerHeight, l.ScrollWidth)
	if l.InnerWidth != 390 {
		t.Fatalf("viewport is %d px wide, want 390", l.InnerWidth)
	}
	if l.ScrollWidth > l.InnerWidth {
		t.Errorf("horizontal overflow: scrollWidth %d > innerWidth %d", l.ScrollWidth, l.InnerWidth)
	}
	for _, p := range l.Problems {
		t.Error(p)
	}
}
