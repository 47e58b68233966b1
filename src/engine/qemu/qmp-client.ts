import { createConnection, type Socket } from 'node:net';

/** A command QEMU answered with an error (`{"error": {"class": ..., "desc": ...}}`). */
export class QmpCommandError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly description: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${description}`);
    this.name = 'QmpCommandError';
  }
}

/** The monitor could not be reached, went away, or did not answer in time. */
export class QmpConnectionError extends Error {
  constructor(
    message: string,
    readonly socketPath: string,
  ) {
    super(`${message} (QMP socket ${socketPath})`);
    this.name = 'QmpConnectionError';
  }
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpConnectOptions {
  /** Covers the connection, QEMU's greeting and capability negotiation. */
  timeoutMs?: number;
  /** Default timeout of each command. */
  commandTimeoutMs?: number;
}

interface Pending {
  command: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

/**
 * A client of QEMU's machine protocol on a unix socket: line-delimited JSON, commands matched to
 * their answers by `id`, asynchronous events delivered to listeners. A QEMU monitor serves one
 * client at a time; a second client gets no greeting until the first leaves, which `connect`
 * reports as a timeout.
 */
export class QmpClient {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(event: QmpEvent) => void>();
  private readonly pendingWaiters = new Set<(error: Error) => void>();
  private onGreeting: (() => void) | null = null;
  private onEarlyFailure: ((error: Error) => void) | null = null;
  private closedError: QmpConnectionError | null = null;
  private readonly closedPromise: Promise<void>;
  private markClosed!: () => void;

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
    private readonly commandTimeoutMs: number,
  ) {
    this.closedPromise = new Promise((resolve) => (this.markClosed = resolve));
  }

  static async connect(socketPath: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const socket = createConnection({ path: socketPath });
    const client = new QmpClient(socket, socketPath, options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
    const greeting = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new QmpConnectionError(`no QMP greeting within ${timeoutMs} ms (monitor busy or QEMU hung)`, socketPath));
      }, timeoutMs);
      client.onGreeting = () => {
        clearTimeout(timer);
        resolve();
      };
      client.onEarlyFailure = (error) => {
        clearTimeout(timer);
        reject(error);
      };
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => client.receive(chunk));
    socket.on('error', (error) => client.fail(new QmpConnectionError(error.message, socketPath)));
    socket.on('close', () => client.fail(new QmpConnectionError('connection closed', socketPath)));
    try {
      await greeting;
      await client.execute('qmp_capabilities', undefined, { timeoutMs });
    } catch (error) {
      client.destroy();
      throw error;
    }
    return client;
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Resolves when the connection has ended, for whatever reason. */
  get done(): Promise<void> {
    return this.closedPromise;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `ballast-${this.nextId++}`;
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpConnectionError(`no answer to ${command} within ${timeoutMs} ms`, this.socketPath));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      const message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Calls `listener` for every event; returns the function that stops it. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for the first event named `name` that `matches`; rejects on timeout or when the connection ends. */
  waitForEvent(name: string, matches: (event: QmpEvent) => boolean = () => true, timeoutMs = this.commandTimeoutMs): Promise<QmpEvent> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const stop = () => {
        clearTimeout(timer);
        unsubscribe();
        this.pendingWaiters.delete(onClose);
      };
      const timer = setTimeout(() => {
        stop();
        reject(new QmpConnectionError(`no ${name} event within ${timeoutMs} ms`, this.socketPath));
      }, timeoutMs);
      const unsubscribe = this.onEvent((event) => {
        if (event.event === name && matches(event)) {
          stop();
          resolve(event);
        }
      });
      const onClose = (error: Error) => {
        stop();
        reject(error);
      };
      this.pendingWaiters.add(onClose);
    });
  }

  /** Ends the connection; commands still waiting fail with QmpConnectionError. */
  async close(): Promise<void> {
    if (!this.closedError) {
      this.socket.end();
      const forced = setTimeout(() => this.socket.destroy(), 500);
      await this.closedPromise;
      clearTimeout(forced);
    }
  }

  private destroy(): void {
    this.socket.destroy();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.dispatch(line);
    }
  }

  private dispatch(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.fail(new QmpConnectionError(`unreadable QMP message: ${line.slice(0, 200)}`, this.socketPath));
      this.socket.destroy();
      return;
    }
    if ('QMP' in message) {
      this.onGreeting?.();
      this.onGreeting = null;
      return;
    }
    if (typeof message.event === 'string') {
      for (const listener of [...this.listeners]) listener(message as unknown as QmpEvent);
      return;
    }
    const id = typeof message.id === 'string' ? message.id : undefined;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (!pending || id === undefined) return; // the answer to a command that already timed out
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if ('error' in message) {
      const error = message.error as { class?: string; desc?: string };
      pending.reject(new QmpCommandError(pending.command, error.class ?? 'GenericError', error.desc ?? 'unknown error'));
    } else {
      pending.resolve(message.return);
    }
  }

  private fail(error: QmpConnectionError): void {
    if (this.closedError) return;
    this.closedError = error;
    this.onEarlyFailure?.(error);
    this.onEarlyFailure = null;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
    for (const waiter of [...this.pendingWaiters]) waiter(error);
    this.pendingWaiters.clear();
    this.listeners.clear();
    this.markClosed();
  }
}
