import { ActiveSpeakerDetector } from '../../lib/client/activeSpeaker';

const sample = (levels: Record<string, number>) => new Map(Object.entries(levels));

test('the loudest one speaking takes the floor, keeps it against a similar level, loses it to a clearly louder one', () => {
  const d = new ActiveSpeakerDetector();
  expect(d.update(sample({ a: 0.001, b: 0.002 }))).toBeUndefined(); // nobody speaks
  expect(d.update(sample({ a: 0.2, b: 0.01 }))).toBe('a');
  for (let i = 0; i < 5; i++) expect(d.update(sample({ a: 0.2, b: 0.25 }))).toBeUndefined();
  let changed: string | null | undefined;
  for (let i = 0; i < 5 && changed === undefined; i++) changed = d.update(sample({ a: 0.2, b: 0.6 }));
  expect(changed).toBe('b');
  expect(d.speaker).toBe('b');
});

test('silence or leaving ends the floor: null once, then the next one speaking', () => {
  const d = new ActiveSpeakerDetector();
  d.update(sample({ a: 0.3 }));
  expect(d.speaker).toBe('a');
  const changes: (string | null | undefined)[] = [];
  for (let i = 0; i < 8; i++) changes.push(d.update(sample({ a: 0 })));
  expect(changes.filter((c) => c !== undefined)).toEqual([null]);
  expect(d.update(sample({ b: 0.3 }))).toBe('b');
  expect(d.update(sample({}))).toBeNull(); // b left
});
