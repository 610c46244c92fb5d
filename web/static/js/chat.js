// Chat panel. Lines travel over each PeerConnection's "chat" data channel;
// this module only renders them and reads the form.

const MAX_LINES = 500;

/** appendChatLine adds "name: text" to #chat-log (one <li> per line). */
export function appendChatLine(name, text, { self = false } = {}) {
  const log = document.getElementById('chat-log');
  const li = document.createElement('li');
  if (self) li.className = 'self';
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = name;
  li.append(who, `: ${text}`);
  log.append(li);
  while (log.children.length > MAX_LINES) log.firstElementChild.remove();
  li.scrollIntoView({ block: 'nearest' });
}

/** bindChatForm calls send(text) for each non-empty line typed. */
export function bindChatForm(send) {
  const form = document.getElementById('chat-form');
  const input = document.getElementById('chat-input');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    send(text);
  });
}

/** setChatEnabled enables or disables the chat form. */
export function setChatEnabled(on) {
  for (const el of document.querySelectorAll('#chat-form input, #chat-form button')) el.disabled = !on;
}
