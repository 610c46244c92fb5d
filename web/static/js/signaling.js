// Signalling client: one WebSocket to /ws/{room} on this origin, speaking
// protocol v1 (see PROTOCOL.md).

export const PROTOCOL_VERSION = 1;

/** SignalError is a coded error from the server (or a failed connection). */
export class SignalError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

/** wsURL returns the signalling URL of room on this page's origin. */
export function wsURL(room) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/${encodeURIComponent(room)}`;
}

/**
 * Signaling owns the WebSocket. join() resolves with the welcome message;
 * after it, every server message goes to onMessage, and an unexpected close
 * to onClose({code, bye}) where bye is the server's bye message, if any.
 */
export class Signaling {
  #ws = null;
  #closing = false;
  #bye = null;

  constructor({ room, onMessage, onClose }) {
    this.room = room;
    this.onMessage = onMessage;
    this.onClose = onClose;
  }

  /** join connects and sends the join message; it resolves with welcome. */
  join(name) {
    return new Promise((resolve, reject) => {
      let welcomed = false;
      const ws = new WebSocket(wsURL(this.room));
      this.#ws = ws;
      ws.onopen = () => this.send({ type: 'join', version: PROTOCOL_VERSION, name });
      ws.onmessage = (ev) => {
        const msg = parse(ev.data);
        if (!msg) return;
        if (!welcomed) {
          if (msg.type === 'welcome') {
            welcomed = true;
            resolve(msg);
          } else if (msg.type === 'error' || msg.type === 'bye') {
            this.close();
            reject(new SignalError(msg.code, msg.message));
          }
          return;
        }
        if (msg.type === 'bye') this.#bye = msg;
        this.onMessage(msg);
      };
      ws.onclose = (ev) => {
        if (!welcomed) {
          reject(new SignalError('connection-failed', 'Could not reach the server.'));
          return;
        }
        if (!this.#closing) this.onClose({ code: ev.code, bye: this.#bye });
      };
    });
  }

  /** send sends one message if the socket is open. */
  send(msg) {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  /** leave tells the server we are leaving and closes the socket. */
  leave() {
    this.send({ type: 'leave' });
    this.close();
  }

  /** close closes the socket without reporting it through onClose. */
  close() {
    this.#closing = true;
    this.#ws?.close(1000, 'leaving');
  }
}

function parse(data) {
  try {
    const msg = JSON.parse(data);
    if (msg && typeof msg.type === 'string') return msg;
  } catch (err) {
    // fall through
  }
  console.warn('signalling: ignoring malformed message', data);
  return null;
}
