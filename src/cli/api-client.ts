import { CliError } from './cli.js';

/**
 * The `ballast` command's way to the REST API (BALLAST_URL, default http://localhost:3000), with the
 * key in BALLAST_API_KEY when it is set. An answer that is not a success, or no answer, is a CliError with exit code 1 (a refusal, not bad usage).
 */

export interface ApiClient {
  readonly baseUrl: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  delete<T>(path: string, body?: unknown): Promise<T>;
}

interface ErrorBody {
  message?: string | string[];
  unfit?: { vmId: string; reason: string }[];
}

/** One readable line from an error answer: the API's message, and the VMs that do not fit when it names them. */
function describe(status: number, body: ErrorBody | undefined): string {
  const message = Array.isArray(body?.message) ? body.message.join('; ') : (body?.message ?? `HTTP ${status}`);
  if (!body?.unfit?.length) return message;
  const shown = body.unfit.slice(0, 3).map((u) => `${u.vmId}: ${u.reason}`);
  const more = body.unfit.length > 3 ? `; and ${body.unfit.length - 3} more` : '';
  return `${message} (${shown.join('; ')}${more})`;
}

export function apiClient(env: NodeJS.ProcessEnv = process.env): ApiClient {
  const baseUrl = (env.BALLAST_URL ?? 'http://localhost:3000').replace(/\/+$/, '');
  try {
    new URL(baseUrl);
  } catch {
    throw new CliError(`BALLAST_URL is not a URL: "${baseUrl}"`, 2);
  }
  const apiKey = env.BALLAST_API_KEY?.trim();
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    let response: Response;
    try {
      response = await fetch(`${baseUrl}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CliError(`cannot reach Ballast at ${baseUrl} (${reason}): start it with "npm start", or set BALLAST_URL`, 1);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (response.status === 401 && !apiKey) throw new CliError(`${describe(401, parsed as ErrorBody | undefined)}: set BALLAST_API_KEY`, 1);
    if (!response.ok) throw new CliError(describe(response.status, parsed as ErrorBody | undefined), 1);
    return parsed as T;
  }
  return {
    baseUrl,
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    delete: (path, body) => call('DELETE', path, body),
  };
}
