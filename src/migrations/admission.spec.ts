import { describe, expect, it } from '@jest/globals';
import { admit, linkLimit, type SlotUser } from './admission.js';

const m = (id: string, sourceHostId: string, targetHostId: string, vmId = id): SlotUser & { id: string } => ({
  id,
  vmId,
  sourceHostId,
  targetHostId,
});
const limits = { perHost: 8, perCluster: 100 };
const tenGig = new Map<string, number | null>();

describe('admission of migrations', () => {
  it.each([
    [1000, 4],
    [9999, 4],
    [10000, 8],
    [40000, 8],
    [null, 8],
    [undefined, 8],
  ])('a %s Mb/s link carries %i migrations', (mbps, slots) => {
    expect(linkLimit(mbps)).toBe(slots);
  });

  it('admits in order until the source host is full, counting both ends', () => {
    const candidates = Array.from({ length: 12 }, (_, i) => m(`m${i}`, 'a', `t${i}`));
    const admitted = admit({ slotHolders: [], candidates, linkMbps: tenGig, limits });
    expect(admitted.map((c) => c.id)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
  });

  it('counts migrations already started, as source or target', () => {
    const slotHolders = [m('x1', 'a', 'b'), m('x2', 'c', 'a'), m('x3', 'a', 'd')];
    const candidates = Array.from({ length: 10 }, (_, i) => m(`m${i}`, `s${i}`, 'a'));
    expect(admit({ slotHolders, candidates, linkMbps: tenGig, limits })).toHaveLength(5);
  });

  it('limits a 1 Gb/s link to 4 and skips to candidates that fit elsewhere', () => {
    const linkMbps = new Map<string, number | null>([['slow', 1000]]);
    const candidates = [
      ...Array.from({ length: 6 }, (_, i) => m(`slow${i}`, 'slow', `t${i}`)),
      m('other', 'b', 'c'),
    ];
    const admitted = admit({ slotHolders: [], candidates, linkMbps, limits });
    expect(admitted.map((c) => c.id)).toEqual(['slow0', 'slow1', 'slow2', 'slow3', 'other']);
  });

  it('never admits a second migration of a VM already started or twice in one round', () => {
    const slotHolders = [m('x', 'a', 'b', 'vm-1')];
    const candidates = [m('again', 'b', 'c', 'vm-1'), m('first', 'd', 'e', 'vm-2'), m('second', 'e', 'f', 'vm-2')];
    expect(admit({ slotHolders, candidates, linkMbps: tenGig, limits }).map((c) => c.id)).toEqual(['first']);
  });

  it('stops at the cluster limit, keeping priority order', () => {
    const candidates = Array.from({ length: 10 }, (_, i) => m(`m${i}`, `s${i}`, `t${i}`));
    const admitted = admit({ slotHolders: [m('x', 'p', 'q')], candidates, linkMbps: tenGig, limits: { perHost: 8, perCluster: 4 } });
    expect(admitted.map((c) => c.id)).toEqual(['m0', 'm1', 'm2']);
  });

  it('counts a storage migration once on its host', () => {
    const candidates = Array.from({ length: 9 }, (_, i) => m(`s${i}`, 'a', 'a'));
    expect(admit({ slotHolders: [], candidates, linkMbps: tenGig, limits })).toHaveLength(8);
  });
});
