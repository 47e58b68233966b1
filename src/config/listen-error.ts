import { ConfigError } from './config-error.js';

/**
 * A listen() failure as the one line an operator sees, naming the setting of the port (`PORT`,
 * `METRICS_PORT`); an error it does not recognise is returned as it is.
 */
export function listenError(error: unknown, setting: string, port: number, host: string | undefined): unknown {
  const code = (error as { code?: string }).code;
  const where = `port ${port}${host === undefined ? '' : ` on ${host}`}`;
  if (code === 'EADDRINUSE') return new ConfigError(`${setting}: ${where} is already in use (another Ballast?): stop it or set ${setting}`);
  if (code === 'EADDRNOTAVAIL') return new ConfigError(`HOST: ${host} is not an address of this machine`);
  if (code === 'EACCES') return new ConfigError(`${setting}: ${where} needs privileges this process does not have: use a port above 1023`);
  return error;
}
