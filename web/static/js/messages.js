// Messages of the "chat" data channel (PROTOCOL.md, "Data channel
// messages"): one JSON object per text message, at most MAX_MESSAGE_BYTES.
// parseMessage is the only way in: whatever it returns as msg has the
// fields of its type, checked; anything else becomes an error with the
// refusal to send back. The Go side (peer/datamsg.go) checks the same.

/** MAX_MESSAGE_BYTES bounds one message on the chat channel. */
export const MAX_MESSAGE_BYTES = 16 * 1024;
/** MAX_CHAT_CHARS bounds a chat line. */
export const MAX_CHAT_CHARS = 4000;
/** MAX_FILE_NAME bounds a file name in a file-offer (characters). */
export const MAX_FILE_NAME = 255;
/** MAX_FILE_SIZE is the largest size a file-offer may announce (2^53 − 1). */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const CODE = /^[a-z0-9-]{1,64}$/;
const ON_OFF = new Set(['on', 'off']);

const isStr = (v, max) => typeof v === 'string' && v.length <= max;
const isSize = (v) => Number.isSafeInteger(v) && v >= 0;

// checks returns '' when m is a valid message of its type, else what is wrong.
const checks = {
  chat: (m) => (isStr(m.text, MAX_CHAT_CHARS) ? '' : 'text must be a string of at most 4000 characters'),
  state: (m) => {
    if (!ON_OFF.has(m.mic) || !ON_OFF.has(m.camera)) return 'mic and camera must be "on" or "off"';
    if (m.screen !== undefined && typeof m.screen !== 'boolean') return 'screen must be a boolean';
    if (m.max_file !== undefined && !isSize(m.max_file)) return 'max_file must be a non-negative integer';
    return '';
  },
  'file-offer': (m) => {
    if (!ID.test(m.id ?? '')) return 'id must be 1-64 letters, digits, "-" or "_"';
    if (!isStr(m.name, MAX_FILE_NAME) || m.name === '') return 'name must be 1-255 characters';
    if (!isSize(m.size)) return 'size must be a non-negative integer below 2^53';
    if (!HEX64.test(m.sha256 ?? '')) return 'sha256 must be 64 lower-case hex digits';
    return '';
  },
  'file-accept': (m) => (ID.test(m.id ?? '') ? '' : 'bad id'),
  'file-refuse': (m) => (ID.test(m.id ?? '') && CODE.test(m.code ?? '') ? '' : 'bad id or code'),
  'file-result': (m) => (ID.test(m.id ?? '') && typeof m.ok === 'boolean' ? '' : 'bad id or ok'),
  'file-cancel': (m) => (ID.test(m.id ?? '') ? '' : 'bad id'),
  error: (m) => (CODE.test(m.code ?? '') ? '' : 'bad code'),
};

/**
 * parseMessage checks one message of the chat channel. It returns {msg}
 * or {error: {code, message, reply}}, where reply (maybe null) is the
 * error message to send back. An error is never answered with an error.
 */
export function parseMessage(data) {
  const fail = (code, message, ref = '') => ({
    error: { code, message, reply: ref === 'error' ? null : { type: 'error', code, message, ref } },
  });
  if (typeof data !== 'string') return fail('bad-message', 'messages on the chat channel are JSON text');
  if (data.length > MAX_MESSAGE_BYTES || (data.length * 3 > MAX_MESSAGE_BYTES && new Blob([data]).size > MAX_MESSAGE_BYTES)) return fail('too-long', `a message is at most ${MAX_MESSAGE_BYTES} bytes`);
  let m;
  try {
    m = JSON.parse(data);
  } catch (err) {
    return fail('bad-message', 'not JSON');
  }
  if (!m || typeof m !== 'object' || Array.isArray(m) || typeof m.type !== 'string') {
    return fail('bad-message', 'a message is a JSON object with a string "type"');
  }
  const check = checks[m.type];
  if (!check) return fail('unknown-type', `unknown message type ${JSON.stringify(m.type.slice(0, 32))}`, m.type);
  const problem = check(m);
  if (problem) return fail(`bad-${m.type}`, problem, m.type);
  return { msg: m };
}
