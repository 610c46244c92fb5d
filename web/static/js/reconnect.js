// Reconnection policy of the signalling connection: when to retry and how
// long to wait. Media does not depend on it: the RTCPeerConnections stay up
// while the signalling server is away.

import { CLOSE_REPLACED } from './signaling.js';

/** BACKOFF_MIN_MS and BACKOFF_MAX_MS bound the wait before a retry. */
export const BACKOFF_MIN_MS = 250;
export const BACKOFF_MAX_MS = 5000;
/** JITTER is the relative spread of each wait (±30 %). */
export const JITTER = 0.3;

/**
 * backoffDelay returns the wait in ms before retry number attempt (0, 1,
 * …): BACKOFF_MIN_MS doubling up to BACKOFF_MAX_MS, spread by ±JITTER so
 * that the pages of a room do not all come back at the same instant.
 */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}

// FATAL_JOIN_ERRORS are join refusals that another try would only repeat.
// Anything else (the server unreachable, restarting, overloaded, …) is
// worth retrying.
const FATAL_JOIN_ERRORS = new Set([
  'room-full', 'unauthorized', 'bad-name', 'bad-room', 'bad-message',
  'unsupported-version', 'not-joined', 'already-joined',
]);

/** fatalJoinError reports whether a refused join must not be retried. */
export function fatalJoinError(code) {
  return FATAL_JOIN_ERRORS.has(code);
}

/**
 * shouldResume reports whether a joined connection that closed with close
 * code should be resumed. Only a takeover by another connection of the
 * same session (4001) is final; a shutdown (1001 after bye), a drop (1006),
 * an eviction or an overloaded server all end in a reconnect.
 */
export function shouldResume(code) {
  return code !== CLOSE_REPLACED;
}
