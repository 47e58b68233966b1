import type { LoggerService, LogLevel } from '@nestjs/common';
import { pino, type Logger as Pino } from 'pino';
import pretty from 'pino-pretty';
import { currentLogFields } from './log-context.js';
import type { BallastLogLevel, LogFormat } from './log-settings.js';


/**
 * What is never written to a log, whatever a caller passes: credentials in headers and any field
 * named like a secret (an API key, a webhook's secret, a token).
 */
const REDACT = [
  'authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'key',
  'apiKey',
  'secret',
  'token',
  'password',
  '*.key',
  '*.apiKey',
  '*.secret',
  '*.token',
  '*.password',
];

/** Nest's own start-up chatter (modules loaded, routes mapped): debug, so the service's own lines stand out. */
const FRAMEWORK_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

export function createPino(options: { level: BallastLogLevel; format: LogFormat; destination?: NodeJS.WritableStream }): Pino {
  const out = options.destination ?? process.stdout;
  const human = options.format === 'pretty' || (options.format === 'auto' && (out as NodeJS.WriteStream).isTTY === true);
  const stream = human
    ? pretty({
        destination: out,
        sync: true,
        colorize: (out as NodeJS.WriteStream).isTTY === true,
        ignore: 'pid,hostname,service,context',
        messageFormat: '{if context}[{context}] {end}{msg}',
        singleLine: true,
        translateTime: 'HH:MM:ss.l',
      })
    : out;
  return pino(
    {
      level: options.level,
      base: { service: 'ballast' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
      mixin: () => ({ ...currentLogFields() }),
    },
    stream,
  );
}

/**
 * Nest's LoggerService over pino: `logger.log('text')` or `logger.log({ msg, clusterId, ... })`,
 * with Nest's context (the class name) as a field.
 */
export class PinoLoggerService implements LoggerService {
  constructor(readonly pino: Pino) {}

  log(message: unknown, ...rest: unknown[]): void {
    const context = contextOf(rest);
    this.write(context && FRAMEWORK_CONTEXTS.has(context) ? 'debug' : 'info', message, rest);
  }

  error(message: unknown, ...rest: unknown[]): void {
    // Nest passes (message, stack, context) for errors.
    const [stack] = rest.length >= 2 ? rest : [undefined];
    this.write('error', message, rest, typeof stack === 'string' ? { stack } : {});
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }

  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  setLogLevels(_levels: LogLevel[]): void {
    // The level is LOG_LEVEL's; Nest's own filter is not used.
  }

  private write(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal', message: unknown, rest: unknown[], extra: Record<string, unknown> = {}): void {
    const context = contextOf(rest);
    const fields = { ...(context ? { context } : {}), ...extra };
    if (message instanceof Error) {
      this.pino[level]({ ...fields, err: message }, message.message);
    } else if (message !== null && typeof message === 'object') {
      const { msg, message: text, ...others } = message as Record<string, unknown>;
      this.pino[level]({ ...fields, ...others }, String(msg ?? text ?? ''));
    } else {
      this.pino[level](fields, String(message));
    }
  }
}

function contextOf(rest: unknown[]): string | undefined {
  const last = rest[rest.length - 1];
  return typeof last === 'string' ? last : undefined;
}
