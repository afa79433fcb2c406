#!/usr/bin/env node
// Runs on `npm install`. The package ships its sources; when no native addon
// for this platform is present (a fresh clone, or a tarball installed on a
// platform it was not built on), build it from source with cargo.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const addon = path.join(root, `opencall.${process.platform}-${process.arch}${process.platform === 'linux' ? '-gnu' : ''}.node`);

function loads() {
  try {
    require(path.join(root, 'index.js'));
    return true;
  } catch {
    return false;
  }
}

if (fs.existsSync(addon) && loads()) {
  process.exit(0);
}

console.log('opencall: building the native addon from source (cargo build --release)...');
try {
  execFileSync('cargo', ['build', '--release', '--lib'], { cwd: root, stdio: 'inherit' });
} catch (error) {
  console.error('opencall: cargo build failed. A Rust toolchain (rustup, cargo) is required to build from source.');
  process.exit(1);
}
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const ext = process.platform === 'darwin' ? 'dylib' : process.platform === 'win32' ? 'dll' : 'so';
const prefix = process.platform === 'win32' ? '' : 'lib';
fs.copyFileSync(path.join(targetDir, 'release', `${prefix}opencall.${ext}`), addon);
// The release profile keeps debug info for profiling; the installed addon
// does not need it (it is ~10x smaller without).
try {
  execFileSync('strip', ['--strip-debug', addon], { stdio: 'ignore' });
} catch {
  // no strip on this machine: the unstripped addon works the same
}
console.log(`opencall: built ${path.basename(addon)}`);
