// Signalling client: one WebSocket at a time to /ws/{room} on this origin,
// speaking protocol v1 (see PROTOCOL.md). Reconnecting is the caller's
// business (call.js): each connect() opens a fresh socket.

export const PROTOCOL_VERSION = 1;

/** CLOSE_REPLACED is the close code of a session taken over by a resume. */
export const CLOSE_REPLACED = 4001;

/**
 * SignalError is a coded error from the server, or 'connection-failed' when
 * the socket closed before the welcome (closeCode then tells why).
 */
export class SignalError extends Error {
  constructor(code, message, closeCode = 0) {
    super(message || code);
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** wsURL returns the signalling URL of room on this page's origin. */
export function wsURL(room) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/${encodeURIComponent(room)}`;
}

/**
 * Signaling owns the current WebSocket. connect() resolves with the welcome
 * message; after it, every server message goes to onMessage, and a close we
 * did not ask for to onClose({code, reason, bye}) where bye is the server's
 * bye message, if any. Events of an older socket are ignored.
 */
export class Signaling {
  #ws = null;

  constructor({ room, onMessage, onClose }) {
    this.room = room;
    this.onMessage = onMessage;
    this.onClose = onClose;
  }

  /**
   * connect opens a new socket and joins with {name, token, resume}
   * (token and resume only when set). It resolves with the welcome and
   * rejects with a SignalError.
   */
  connect({ name, token = '', resume = '' }) {
    this.#drop();
    const join = { type: 'join', version: PROTOCOL_VERSION, name };
    if (token) join.token = token;
    if (resume) join.resume = resume;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsURL(this.room));
      this.#ws = ws;
      let welcomed = false;
      let bye = null;
      let refusal = null;
      ws.onopen = () => ws.send(JSON.stringify(join));
      ws.onmessage = (ev) => {
        const msg = parse(ev.data);
        if (!msg || this.#ws !== ws) return;
        if (welcomed) {
          if (msg.type === 'bye') bye = msg;
          this.onMessage(msg);
        } else if (msg.type === 'welcome') {
          welcomed = true;
          resolve(msg);
        } else if (msg.type === 'error' || msg.type === 'bye') {
          refusal = new SignalError(msg.code, msg.message);
        }
      };
      ws.onclose = (ev) => {
        if (this.#ws !== ws) {
          if (!welcomed) reject(new SignalError('connection-failed', 'The connection was replaced.', ev.code));
          return;
        }
        this.#ws = null;
        if (!welcomed) {
          reject(refusal || new SignalError('connection-failed', 'Could not reach the server.', ev.code));
          return;
        }
        this.onClose({ code: ev.code, reason: ev.reason, bye });
      };
    });
  }

  /** open reports whether a socket is open (it may not be welcomed yet). */
  get open() {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  /** send sends one message if the socket is open; it reports whether it did. */
  send(msg) {
    if (!this.open) return false;
    this.#ws.send(JSON.stringify(msg));
    return true;
  }

  /** leave tells the server we are leaving and closes the socket. */
  leave() {
    this.send({ type: 'leave' });
    this.#drop();
  }

  /** close closes the socket without reporting it through onClose. */
  close() {
    this.#drop();
  }

  // drop forgets the current socket and closes it with a close frame.
  #drop() {
    const ws = this.#ws;
    this.#ws = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.close(1000, 'leaving');
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
