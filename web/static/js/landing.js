// Landing page: pick a room and a name, then go to /room/{room}?name=….

const form = document.getElementById('join-form');
const roomInput = document.getElementById('room-input');
const nameInput = document.getElementById('name-input');

roomInput.value = roomInput.value || `room-${Math.random().toString(36).slice(2, 8)}`;
nameInput.value = nameInput.value || localStorage.getItem('videochat.name') || '';

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const room = roomInput.value.trim();
  const name = nameInput.value.trim();
  if (!room || !name) return;
  localStorage.setItem('videochat.name', name);
  location.assign(`/room/${encodeURIComponent(room)}?name=${encodeURIComponent(name)}`);
});
