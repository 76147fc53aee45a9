/**
 * Request authentication. An IAM-authorized deployment (API Gateway with AWS_IAM routes)
 * takes requests signed with Signature Version 4 for the service `execute-api`; we sign with
 * the AWS SDK's own signer (`@smithy/signature-v4`, SHA-256 from `@aws-crypto/sha256-js`)
 * and, unless credentials are given, resolve them with the SDK's default provider chain
 * (environment, SSO, shared config and credentials files, container and instance roles).
 * The local stack takes unsigned requests.
 *
 * The signer and the SDK's credential chain are imported on first use, so a client that
 * never signs never loads them.
 */
import { SluiceError } from '../errors.ts';

/** AWS credentials, as the SDK's credential providers return them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export type AuthOptions =
  | { type: 'none' }
  | {
      type: 'iam';
      /** @default - from an `execute-api.<region>.amazonaws.com` URL, else AWS_REGION / AWS_DEFAULT_REGION */
      region?: string;
      /** Fixed credentials or a provider. @default - the AWS SDK's default credential provider chain */
      credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
      /** @default 'execute-api' */
      service?: string;
    };

/** What gets signed: the request exactly as it will be sent. */
export interface SignableRequest {
  method: string;
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: Uint8Array | string | undefined;
}

/** Adds authentication headers to a request; returns the headers to send. */
export type RequestSigner = (request: SignableRequest) => Promise<Record<string, string>>;

export interface SignerOptions {
  /** Signing time; injectable so tests are deterministic. @default - now */
  now?: () => Date;
  /** Include `x-amz-content-sha256`. API Gateway accepts either way. @default true */
  applyChecksum?: boolean;
}

/** The region of an `https://<id>.execute-api.<region>.amazonaws.com` URL, if it is one. */
export function regionFromUrl(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname)?.[1];
}

/** Builds the signer for `auth`, or undefined when requests go unsigned. */
export function createSigner(auth: AuthOptions | undefined, baseUrl: URL, options: SignerOptions = {}): RequestSigner | undefined {
  if (auth === undefined || auth.type === 'none') return undefined;
  if (auth.type !== 'iam') throw new SluiceError('INVALID_CONFIG', `auth.type must be 'iam' or 'none', got ${JSON.stringify((auth as { type: unknown }).type)}`);
  const region = auth.region ?? regionFromUrl(baseUrl) ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (region === undefined || region === '') {
    throw new SluiceError('INVALID_CONFIG', `IAM auth needs a region: pass auth.region or set AWS_REGION (none can be read from ${baseUrl.host})`);
  }
  const service = auth.service ?? 'execute-api';
  const now = options.now ?? (() => new Date());
  let signer: Promise<{ sign(request: unknown, options: { signingDate: Date }): Promise<{ headers: Record<string, string> }> }> | undefined;
  const load = async () => {
    const [{ SignatureV4 }, { Sha256 }] = await Promise.all([import('@smithy/signature-v4'), import('@aws-crypto/sha256-js')]);
    const credentials = auth.credentials ?? (await import('@aws-sdk/credential-providers')).fromNodeProviderChain();
    return new SignatureV4({ service, region, credentials, sha256: Sha256, applyChecksum: options.applyChecksum ?? true }) as never;
  };
  return async (request) => {
    signer ??= load();
    const { url } = request;
    const query: Record<string, string | string[]> = {};
    for (const [name, value] of url.searchParams) {
      const seen = query[name];
      query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    const signed = await (await signer).sign(
      {
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port === '' ? {} : { port: Number(url.port) }),
        path: url.pathname,
        query,
        // Only these headers are signed; whatever fetch adds (user-agent, accept-encoding…) is not.
        headers: { ...request.headers, host: url.host },
        body: request.body,
      },
      { signingDate: now() },
    );
    return signed.headers;
  };
}
