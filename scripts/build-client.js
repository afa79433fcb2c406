#!/usr/bin/env node
// Builds opencall/client for browsers: one ESM file with mediasoup-client and
// socket.io-client inside, so a page can import it without a bundler and
// always gets the versions the call layer was tested with. Type declarations
// come from `tsc -p tsconfig.client.json`.
'use strict';
const path = require('node:path');
const { build } = require('esbuild');

const root = path.resolve(__dirname, '..');

async function buildClient({ outfile = path.join(root, 'dist/client/opencall-client.js'), minify = false } = {}) {
  return build({
    entryPoints: [path.join(root, 'lib/client/index.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // RTCRtpTransceiver, getStats() fields and optional chaining as in evergreen browsers.
    target: ['chrome100', 'firefox100', 'safari15'],
    sourcemap: true,
    minify,
    legalComments: 'linked',
    logLevel: 'info',
  });
}

module.exports = { buildClient };

if (require.main === module) {
  buildClient({ minify: process.argv.includes('--minify') }).catch(() => process.exit(1));
}
