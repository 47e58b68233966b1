import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createPino, PinoLoggerService } from './logger.js';

/** A stdout stand-in that keeps what is written; `isTTY` as a terminal or a pipe would have it. */
function output(isTTY: boolean): Writable & { isTTY: boolean; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as Writable & { isTTY: boolean; text(): string };
  stream.isTTY = isTTY;
  stream.text = () => chunks.join('');
  return stream;
}

function logOnce(format: 'auto' | 'json' | 'pretty', isTTY: boolean): string {
  const out = output(isTTY);
  const logger = new PinoLoggerService(createPino({ level: 'info', format, destination: out }));
  logger.log({ msg: 'cluster demo: nothing to do', clusterId: 'demo', planId: 'p-1' }, 'EvaluationService');
  return out.text();
}

describe('the log format', () => {
  it('auto: one JSON object a line when the output is not a terminal', () => {
    const line = JSON.parse(logOnce('auto', false).trim());
    expect(line).toMatchObject({ level: 'info', msg: 'cluster demo: nothing to do', context: 'EvaluationService', clusterId: 'demo', planId: 'p-1' });
    expect(typeof line.time).toBe('string');
  });

  it('auto: a readable line, not JSON, on a terminal', () => {
    const text = logOnce('auto', true);
    expect(() => JSON.parse(text.trim())).toThrow();
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(text).toMatch(/INFO/);
    expect(text).toContain('[EvaluationService] cluster demo: nothing to do');
  });

  it('json and pretty are as asked, whatever the output', () => {
    expect(JSON.parse(logOnce('json', true).trim())).toMatchObject({ msg: 'cluster demo: nothing to do' });
    expect(() => JSON.parse(logOnce('pretty', false).trim())).toThrow();
  });

  it('writes fields named like a credential as [redacted]', () => {
    const out = output(false);
    const logger = new PinoLoggerService(createPino({ level: 'info', format: 'json', destination: out }));
    logger.log({ msg: 'subscribed', secret: 'whsec-0123456789abcdef', webhook: { token: 'tok-0123456789' }, headers: { authorization: 'Bearer bk_x' } });
    expect(out.text()).not.toMatch(/whsec-0123456789abcdef|tok-0123456789|bk_x/);
    expect(JSON.parse(out.text())).toMatchObject({ secret: '[redacted]', webhook: { token: '[redacted]' }, headers: { authorization: '[redacted]' } });
  });
});
