// Local media: camera, microphone, screen share and device selection.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };

/**
 * LocalMedia holds the outgoing tracks. stream always holds the tracks that
 * are being sent (the screen instead of the camera while sharing).
 * problem is null, 'insecure', 'denied', 'no-device' or 'partial'.
 */
export class LocalMedia {
  constructor() {
    this.stream = new MediaStream();
    this.camera = null;
    this.mic = null;
    this.screen = null;
    this.problem = null;
    this.enabled = { audio: true, video: true };
  }

  /** start opens camera and microphone, falling back to what is available. */
  async start() {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.problem = 'insecure';
      return;
    }
    try {
      this.#adopt(await navigator.mediaDevices.getUserMedia({ audio: true, video: VIDEO }));
      return;
    } catch (err) {
      console.warn('getUserMedia(audio+video) failed', err);
      if (err.name === 'NotAllowedError' || err.name === 'SecurityError') {
        this.problem = 'denied';
        return;
      }
    }
    for (const constraints of [{ audio: true }, { video: VIDEO }]) {
      try {
        this.#adopt(await navigator.mediaDevices.getUserMedia(constraints));
      } catch (err) {
        console.warn('getUserMedia failed', constraints, err);
      }
    }
    this.problem = this.camera || this.mic ? 'partial' : 'no-device';
  }

  #adopt(stream) {
    for (const track of stream.getTracks()) {
      if (track.kind === 'audio') this.mic = track;
      else this.camera = track;
      this.stream.addTrack(track);
    }
  }

  /** track returns the outgoing track of kind, or null. */
  track(kind) {
    if (kind === 'audio') return this.mic;
    return this.screen || this.camera;
  }

  /** setEnabled mutes or unmutes the outgoing track of kind. */
  setEnabled(kind, on) {
    this.enabled[kind] = on;
    const track = this.track(kind);
    if (track) track.enabled = on;
  }

  /** useDevice opens deviceId for kind and returns the new outgoing track. */
  async useDevice(kind, deviceId) {
    const constraints = kind === 'audio'
      ? { audio: { deviceId: { exact: deviceId } } }
      : { video: { ...VIDEO, deviceId: { exact: deviceId } } };
    const [track] = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks();
    const old = kind === 'audio' ? this.mic : this.camera;
    if (kind === 'audio') this.mic = track;
    else this.camera = track;
    if (old) old.stop();
    if (kind === 'audio' || !this.screen) this.#swap(old, track);
    track.enabled = this.enabled[kind];
    return this.track(kind);
  }

  /** startScreen shares the screen; onEnded runs when the user stops it. */
  async startScreen(onEnded) {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const [track] = stream.getVideoTracks();
    this.#swap(this.camera, track);
    this.screen = track;
    track.addEventListener('ended', onEnded, { once: true });
    return track;
  }

  /** stopScreen ends screen sharing and returns the camera track (or null). */
  stopScreen() {
    if (!this.screen) return this.camera;
    const screen = this.screen;
    this.screen = null;
    screen.stop();
    this.#swap(screen, this.camera);
    if (this.camera) this.camera.enabled = this.enabled.video;
    return this.camera;
  }

  #swap(oldTrack, newTrack) {
    if (oldTrack) this.stream.removeTrack(oldTrack);
    if (newTrack) this.stream.addTrack(newTrack);
  }

  /** devices lists cameras and microphones. */
  async devices() {
    if (!navigator.mediaDevices?.enumerateDevices) return { videoinput: [], audioinput: [] };
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      videoinput: all.filter((d) => d.kind === 'videoinput'),
      audioinput: all.filter((d) => d.kind === 'audioinput'),
    };
  }

  /** stop ends every local track. */
  stop() {
    for (const t of [this.camera, this.mic, this.screen]) t?.stop();
  }

  /**
   * viewOnly drops every outgoing track for a peer whose room token does
   * not allow publishing: its connections then only receive.
   */
  viewOnly() {
    this.stop();
    for (const t of this.stream.getTracks()) this.stream.removeTrack(t);
    this.camera = this.mic = this.screen = null;
    this.problem = 'viewer';
  }
}

/** problemText describes a LocalMedia problem for the user, or ''. */
export function problemText(media) {
  switch (media.problem) {
    case 'insecure':
      return 'Camera and microphone need a secure page (https or localhost). You joined receive-only: you can see and hear the others, they cannot see or hear you.';
    case 'denied':
      return 'Camera and microphone permission was denied. You joined receive-only: you can see and hear the others, they cannot see or hear you.';
    case 'no-device':
      return 'No camera or microphone was found. You joined receive-only: you can see and hear the others, they cannot see or hear you.';
    case 'viewer':
      return 'This link lets you watch and listen: the others cannot see or hear you.';
    case 'partial':
      return media.camera
        ? 'No microphone was found: the others can see you but not hear you.'
        : 'No camera was found: the others can hear you but not see you.';
  }
  return '';
}
