// Call controls: mic and camera toggles, screen share, device selection.

import { notice, setPressed, showLocal } from './ui.js';

/** bindControls wires the control buttons to media and call. */
export function bindControls({ media, call }) {
  bindToggle('toggle-audio', 'audio', media, call, ['Mute', 'Unmute']);
  bindToggle('toggle-video', 'video', media, call, ['Stop video', 'Start video']);
  bindScreenShare(media, call);
  bindDeviceSelects(media, call);
}

function bindToggle(id, kind, media, call, [onLabel, offLabel]) {
  const b = document.getElementById(id);
  b.disabled = !media.track(kind);
  b.addEventListener('click', () => {
    const on = !media.enabled[kind];
    media.setEnabled(kind, on);
    setPressed(id, !on, on ? onLabel : offLabel);
    call.sendState();
  });
}

// bindScreenShare shares the screen in place of the camera (replaceTrack on
// every connection) and comes back to the camera when the button is
// pressed again or the browser ends the share (its own "stop sharing").
// One change runs at a time: a click while the screen picker is open does
// nothing.
function bindScreenShare(media, call) {
  const b = document.getElementById('share-screen');
  if (media.problem === 'viewer') {
    b.disabled = true;
    b.title = 'This link does not allow sending video.';
    return;
  }
  if (!navigator.mediaDevices?.getDisplayMedia) {
    b.disabled = true;
    b.title = 'This browser cannot share the screen.';
    return;
  }
  let busy = false;
  const backToCamera = async () => {
    const camera = media.stopScreen();
    showLocal(media.stream, { screen: false });
    setPressed('share-screen', false, 'Share screen');
    await call.setTrack('video', camera);
    call.sendState();
  };
  const share = async () => {
    const track = await media.startScreen(() => backToCamera());
    showLocal(media.stream, { screen: true });
    setPressed('share-screen', true, 'Back to camera');
    await call.setTrack('video', track);
    call.sendState();
  };
  b.addEventListener('click', async () => {
    if (busy) return;
    busy = true;
    try {
      await (media.screen ? backToCamera() : share());
    } catch (err) {
      if (err.name !== 'NotAllowedError' && err.name !== 'AbortError') {
        notice(`Screen sharing failed: ${err.message}`, { kind: 'error', id: 'screen' });
      }
    } finally {
      busy = false;
    }
  });
}

async function bindDeviceSelects(media, call) {
  const selects = { videoinput: 'camera-select', audioinput: 'mic-select' };
  if (media.problem === 'viewer') { // nothing may be sent: no devices to pick
    for (const id of Object.values(selects)) document.getElementById(id).hidden = true;
    return;
  }
  const fill = async () => {
    const lists = await media.devices();
    for (const [kind, id] of Object.entries(selects)) {
      const select = document.getElementById(id);
      const current = kind === 'videoinput' ? media.camera : media.mic;
      const currentId = current?.getSettings().deviceId;
      select.replaceChildren(...lists[kind].map((d, i) => {
        const o = new Option(d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`, d.deviceId);
        o.selected = d.deviceId === currentId;
        return o;
      }));
      select.hidden = lists[kind].length < 2;
    }
  };
  for (const [kind, id] of Object.entries(selects)) {
    document.getElementById(id).addEventListener('change', async (ev) => {
      const mediaKind = kind === 'videoinput' ? 'video' : 'audio';
      try {
        const track = await media.useDevice(mediaKind, ev.target.value);
        await call.setTrack(mediaKind, track);
        call.sendState();
        showLocal(media.stream, { screen: !!media.screen });
        document.getElementById(mediaKind === 'video' ? 'toggle-video' : 'toggle-audio').disabled = false;
      } catch (err) {
        notice(`Could not switch device: ${err.message}`, { kind: 'error', id: 'device' });
        await fill(); // show the device still in use again
      }
    });
  }
  navigator.mediaDevices?.addEventListener?.('devicechange', fill);
  await fill();
}
