// Serves the test pages on 127.0.0.1 (an ephemeral port). A loopback http://
// origin is a secure context, so getUserMedia and RTCPeerConnection work
// without TLS. Page code is bundled in memory by esbuild, mediasoup-client included.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { build } from 'esbuild';

/** Page bundles, by name: `/<name>.js`, loaded by `/<name>.html`. */
const ENTRIES = {
  p2p: 'p2p-client.ts',
  sfu: 'sfu-client.ts',
  call: 'call-client.ts',
} as const;

export type PageKind = keyof typeof ENTRIES;

async function bundle(): Promise<Map<string, string>> {
  const pageDir = path.join(__dirname, 'page');
  const result = await build({
    entryPoints: Object.fromEntries(
      Object.entries(ENTRIES).map(([name, file]) => [name, path.join(pageDir, file)]),
    ),
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'chrome110',
    sourcemap: 'inline',
    outdir: '/',
    logLevel: 'silent',
  });
  return new Map(result.outputFiles.map((f) => [path.basename(f.path), f.text]));
}

function html(kind: PageKind): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>opencall e2e ${kind}</title>
<style>body{font:12px sans-serif;background:#222;color:#eee}video{background:#000;margin:2px}</style>
</head><body>
<div id="locals"></div><div id="remotes"></div>
<script src="/${kind}.js"></script>
</body></html>`;
}

export class PageServer {
  private constructor(
    private readonly server: http.Server,
    readonly origin: string,
  ) {}

  static async start(): Promise<PageServer> {
    const files = await bundle();
    const server = http.createServer((req, res) => {
      const name = (req.url ?? '/').split('?')[0].slice(1);
      const kind = name.replace(/\.html$/, '');
      if (name.endsWith('.html') && kind in ENTRIES) {
        res.writeHead(200, { 'content-type': 'text/html' }).end(html(kind as PageKind));
      } else if (files.has(name)) {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(files.get(name));
      } else if (name === 'favicon.ico') {
        res.writeHead(204).end(); // keeps a 404 out of the page's console errors
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new PageServer(server, `http://127.0.0.1:${port}`);
  }

  url(kind: PageKind): string {
    return `${this.origin}/${kind}.html`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
