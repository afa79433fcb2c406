#!/usr/bin/env node
// Builds the example gateway's call page (examples/gateway/page → public/):
// one esbuild bundle of the page's TypeScript, with opencall's browser client
// (lib/client) and mediasoup-client inside, plus the static files.
//
//   node scripts/build-demo.js           always rebuilds
//   buildDemo({ onlyIfStale: true })     what the gateway does at start
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pageDir = path.join(root, 'examples/gateway/page');
const outDir = path.join(root, 'examples/gateway/public');
// Everything the bundle is made of: a change to any of these rebuilds it.
const SOURCE_DIRS = [pageDir, path.join(root, 'lib/client')];
const STATIC_FILES = ['index.html', 'style.css'];
const BUNDLE = path.join(outDir, 'app.js');

function newestMtime(dir) {
  if (!fs.existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

function isStale() {
  if (!fs.existsSync(BUNDLE)) return true;
  const built = fs.statSync(BUNDLE).mtimeMs;
  return SOURCE_DIRS.some((dir) => newestMtime(dir) > built);
}

async function buildDemo({ onlyIfStale = false, quiet = false } = {}) {
  if (onlyIfStale && !isStale()) return false;
  const { build } = require('esbuild');
  fs.mkdirSync(outDir, { recursive: true });
  for (const file of STATIC_FILES) fs.copyFileSync(path.join(pageDir, file), path.join(outDir, file));
  await build({
    entryPoints: [path.join(pageDir, 'main.ts')],
    outfile: BUNDLE,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome110',
    sourcemap: true,
    minify: process.env.NODE_ENV === 'production',
    logLevel: 'warning',
  });
  if (!quiet) console.log(`call page built into ${path.relative(process.cwd(), outDir) || '.'}`);
  return true;
}

if (require.main === module) {
  buildDemo().catch((error) => {
    console.error(error.message);
    process.exit(1);
  });
}

module.exports = { buildDemo };
