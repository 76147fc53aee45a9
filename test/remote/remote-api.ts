/**
 * HTTP calls to a deployed Sluice, signed with SigV4 (service `execute-api`) when the
 * deployment uses IAM authorization, exactly as lib/client signs them.
 */
import { createSigner, type AuthOptions } from '../../lib/client/auth.ts';

export interface RemoteResponse {
  status: number;
  /** Parsed JSON, or the text when the body is not JSON. */
  body: any;
  headers: Headers;
}

export type RemoteApi = (method: string, path: string, body?: unknown) => Promise<RemoteResponse>;

/** The deployment under test, from SLUICE_URL and SLUICE_AUTH (`iam` or `none`). */
export function remoteTarget(env: NodeJS.ProcessEnv = process.env): { url: string; auth: AuthOptions } {
  const url = env.SLUICE_URL?.trim();
  if (url === undefined || url === '') throw new Error('SLUICE_URL is not set: point it at a deployment (the ApiUrl output, or http://127.0.0.1:4100 for npm start)');
  const mode = env.SLUICE_AUTH?.trim() || 'none';
  if (mode !== 'iam' && mode !== 'none') throw new Error(`SLUICE_AUTH must be 'iam' or 'none', got ${JSON.stringify(mode)}`);
  // The region comes from an execute-api URL, else AWS_REGION; credentials from the SDK's default chain.
  return { url: url.replace(/\/+$/, ''), auth: mode === 'iam' ? { type: 'iam' } : { type: 'none' } };
}

/** A caller of `baseUrl`, signing every request when `auth` says so. */
export function remoteApi(baseUrl: string, auth: AuthOptions): RemoteApi {
  const signer = createSigner(auth, new URL(baseUrl));
  return async (method, path, body) => {
    const url = new URL(`${baseUrl}${path}`);
    const headers: Record<string, string> = {};
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const signed = signer === undefined ? headers : await signer({ method, url, headers, body: payload });
    const response = await fetch(url, { method, headers: signed, ...(payload === undefined ? {} : { body: payload }) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
}
