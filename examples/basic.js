// The smallest opencall program: one worker, one router, its capabilities.
// Run with `npm start` after `npm install`.
'use strict';
const mediasoup = require('..');

async function main() {
  const worker = await mediasoup.createWorker({ logLevel: 'warn' });
  worker.on('died', (error) => {
    console.error('worker died:', error);
    process.exit(1);
  });
  const router = await worker.createRouter({
    mediaCodecs: [
      { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
      { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
      {
        kind: 'video',
        mimeType: 'video/H264',
        clockRate: 90000,
        parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
      },
    ],
  });
  console.log(`opencall ${mediasoup.version}: worker thread ${worker.pid}, router ${router.id}`);
  console.log(JSON.stringify(router.rtpCapabilities, null, 2));
  console.log('resource usage:', await worker.getResourceUsage());
  worker.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
