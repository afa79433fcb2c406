import * as mediasoup from '../lib';
import { processFootprint, settle } from './helpers/proc';

const mediaCodecs: mediasoup.types.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

async function cycle(): Promise<void> {
  const worker = await mediasoup.createWorker();
  const router = await worker.createRouter({ mediaCodecs });
  await router.dump();
  worker.close();
}

test('1,000 worker + router create/close cycles leave threads, fds and RSS flat', async () => {
  // Warm up allocators, the debug package, JIT and N-API's own bookkeeping.
  for (let i = 0; i < 100; i++) await cycle();
  await settle();
  const before = processFootprint();
  for (let i = 0; i < 1000; i++) await cycle();
  await settle();
  const after = processFootprint();
  console.log(
    `footprint before/after 1,000 cycles: threads ${before.threads}/${after.threads}, ` +
      `fds ${before.fds}/${after.fds}, RSS ${before.rssKiB}/${after.rssKiB} KiB`,
  );
  expect(after.threads).toBe(before.threads);
  expect(after.fds).toBe(before.fds);
  // A leak of even 8 KiB per cycle would add ~8 MiB; allow allocator noise.
  expect(after.rssKiB - before.rssKiB).toBeLessThan(6 * 1024);
});
