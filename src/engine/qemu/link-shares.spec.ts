import { LinkShares } from './link-shares.js';

const user = (sourceHostId: string, targetHostId: string, sourceMbps = 40, targetMbps = 40) => ({ sourceHostId, targetHostId, sourceMbps, targetMbps });

describe('LinkShares', () => {
  it('divides a link among the migrations on it and divides it again as they start and end', () => {
    const shares = new LinkShares();
    expect(shares.join('a', user('h1', 'h2'))).toEqual(new Map([['a', 40]]));
    expect(shares.join('b', user('h1', 'h3'))).toEqual(new Map([['a', 20], ['b', 20]]));
    expect(shares.join('c', user('h1', 'h4'))).toEqual(new Map([['a', 40 / 3], ['b', 40 / 3], ['c', 40 / 3]]));
    const d = shares.join('d', user('h1', 'h5'));
    expect(d).toEqual(new Map([['a', 10], ['b', 10], ['c', 10], ['d', 10]]));
    // Four migrations on a 40 Mb/s link use 40 Mb/s between them, not 40 each.
    expect(['a', 'b', 'c', 'd'].reduce((sum, id) => sum + shares.shareOf(id)!, 0)).toBe(40);
    expect(shares.leave('a')).toEqual(new Map([['b', 40 / 3], ['c', 40 / 3], ['d', 40 / 3]]));
    shares.leave('b');
    shares.leave('c');
    expect(shares.shareOf('d')).toBe(40);
    expect(shares.shareOf('a')).toBeUndefined();
  });

  it('takes the smaller share of the two links, and hands out only what changed', () => {
    const shares = new LinkShares();
    shares.join('a', user('h1', 'h2', 10_000, 1_000));
    expect(shares.shareOf('a')).toBe(1_000);
    // Another host's migration into h2: a's target link is shared now, its source link is not.
    expect(shares.join('b', user('h3', 'h2', 10_000, 1_000))).toEqual(new Map([['a', 500], ['b', 500]]));
    // Unrelated hosts: nothing changes for a or b.
    expect(shares.join('c', user('h4', 'h5', 10_000, 10_000))).toEqual(new Map([['c', 10_000]]));
  });
});
