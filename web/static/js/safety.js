// Safety codes: proof that media is encrypted end to end. DTLS-SRTP keys
// are agreed between the two browsers (or native peers) only; each side
// checks that the other's DTLS certificate matches the fingerprint in the
// session description it received. A man in the middle (the signalling
// server, say) has to replace the fingerprints, so the two ends would
// compute different codes. Both ends say their code aloud and compare.
//
// The code is derived from both fingerprints of one RTCPeerConnection, in
// an order-independent way (the Go side, peer/safety.go, does the same):
//
//   fp(desc)  = "sha-256 " + upper-case hex with colons (first sha-256
//               a=fingerprint line of the description)
//   digest    = SHA-256(UTF-8(sort([fp(local), fp(remote)]).join("\n")))
//   code      = for i in 0..5: uint32 big-endian of digest[4i..4i+4]
//               mod 100000, as 5 digits; groups joined by spaces.

/** fingerprintOf returns the normalised sha-256 fingerprint in sdp, or ''. */
export function fingerprintOf(sdp) {
  const m = /^a=fingerprint:sha-256 ([0-9A-Fa-f:]+)\s*$/m.exec(sdp || '');
  return m ? `sha-256 ${m[1].toUpperCase()}` : '';
}

/** safetyCode returns the code of pc, or '' before both descriptions are set. */
export async function safetyCode(pc) {
  const a = fingerprintOf(pc.currentLocalDescription?.sdp);
  const b = fingerprintOf(pc.currentRemoteDescription?.sdp);
  if (!a || !b) return '';
  return codeOf(a, b);
}

/** codeOf derives the code from two fingerprints (order-independent). */
export async function codeOf(a, b) {
  const text = [a, b].sort().join('\n');
  const digest = new DataView(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  const groups = [];
  for (let i = 0; i < 6; i++) groups.push(String(digest.getUint32(4 * i) % 100000).padStart(5, '0'));
  return groups.join(' ');
}
