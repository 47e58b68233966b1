import { describe, expect, it } from '@jest/globals';
import { moveDependencies } from './move-dependencies.js';

const mv = (vmId: string, fromHostId: string, toHostId: string) => ({ vmId, fromHostId, toHostId });

describe('dependencies between the moves of a plan', () => {
  it('lets independent moves run at once', () => {
    expect(moveDependencies([mv('a', 'h1', 'h2'), mv('b', 'h1', 'h3'), mv('c', 'h4', 'h2')])).toEqual([[], [], []]);
  });

  it('makes a move into a host wait for the earlier moves out of it (room first)', () => {
    const deps = moveDependencies([mv('big', 'h2', 'h3'), mv('other', 'h2', 'h4'), mv('x', 'h1', 'h2')]);
    expect(deps).toEqual([[], [], [0, 1]]);
  });

  it('does not wait for later moves out of the target', () => {
    expect(moveDependencies([mv('x', 'h1', 'h2'), mv('y', 'h2', 'h3')])).toEqual([[], []]);
  });

  it('orders the moves of one VM', () => {
    expect(moveDependencies([mv('a', 'h1', 'h2'), mv('b', 'h3', 'h4'), mv('a', 'h2', 'h5')])).toEqual([[], [], [0]]);
  });

  it('chains a swap made through a third host', () => {
    const deps = moveDependencies([mv('a', 'h1', 'h3'), mv('b', 'h2', 'h1'), mv('a', 'h3', 'h2')]);
    expect(deps).toEqual([[], [0], [0, 1]]);
  });

  it('does not count a storage move (same host) as making room', () => {
    expect(moveDependencies([mv('a', 'h1', 'h1'), mv('b', 'h2', 'h1')])).toEqual([[], []]);
  });
});
