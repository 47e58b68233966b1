import { ConfigError } from '../config/config-error.js';
import { bindAddress } from './bind-address.js';

describe('bindAddress', () => {
  it('keeps an open API on loopback and says so', () => {
    const bound = bindAddress('', true);
    expect(bound.host).toBe('127.0.0.1');
    expect(bound.notice).toMatch(/open.*127\.0\.0\.1 only/);
    expect(bindAddress('::1', true).host).toBe('::1');
    expect(bindAddress('127.0.0.2', true).host).toBe('127.0.0.2');
  });

  it('refuses to expose an open API', () => {
    expect(() => bindAddress('0.0.0.0', true)).toThrow(ConfigError);
    expect(() => bindAddress('10.1.2.3', true)).toThrow(/BALLAST_ADMIN_KEY/);
  });

  it('listens everywhere once a key is configured, unless HOST says otherwise', () => {
    expect(bindAddress('', false)).toEqual({ host: undefined });
    expect(bindAddress('10.1.2.3', false)).toEqual({ host: '10.1.2.3' });
  });
});
