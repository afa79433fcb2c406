'use strict';
/**
 * Janus VideoRoom as a reference SFU. TODO: not wired yet; see README.
 */
async function bench() {
  return { unavailable: 'not measured yet (TODO)' };
}
module.exports = { bench };
