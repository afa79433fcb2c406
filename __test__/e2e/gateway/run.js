// Entry point of a forked gateway process: runs a TypeScript file of this
// repository with plain Node by compiling each .ts module with esbuild as it
// is required (no ts-node in the project; esbuild already is).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { transformSync } = require('esbuild');

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    loader: 'ts',
    format: 'cjs',
    target: 'node18',
    sourcefile: filename,
    sourcemap: 'inline',
  });
  module._compile(code, filename);
};
process.setSourceMapsEnabled?.(true);

require(path.resolve(__dirname, process.argv[2] || 'gatewayProcess.ts'));
