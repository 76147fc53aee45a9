/**
 * The claim-check reference: what a record carries instead of a value too large for the
 * log. The record's value is this JSON and its `sluice.claim-check` header names the format
 * version, so the server and every consumer can tell a reference from an ordinary value
 * without guessing. Pure: shared by the client and the server.
 */

/** Header that marks a record whose value is a claim-check reference; its value is the format version. */
export const CLAIM_CHECK_HEADER = 'sluice.claim-check';
export const CLAIM_CHECK_VERSION = '1';

/** Largest blob: S3's largest object made by a multipart upload is 5 TiB, its largest single PUT 5 GiB; we take the issue's 5 GiB. */
export const MAX_BLOB_BYTES = 5 * 1024 * 1024 * 1024;

/** Blob ids are `<15-digit creation time>-<32 hex>`: unguessable, and sorted by creation time. */
export const BLOB_ID_PATTERN = /^\d{15}-[0-9a-f]{32}$/;

const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** What a claim-check record's value holds. */
export interface ClaimCheckReference {
  /** Blob id, as the blob routes name it. */
  readonly id: string;
  /** The S3 object key, under the topic's blob prefix. */
  readonly key: string;
  /** The value's length in bytes. */
  readonly size: number;
  /** Lower-case hex SHA-256 of the value. */
  readonly sha256: string;
}

/** The record value for `reference`. */
export function encodeReference(reference: ClaimCheckReference): Buffer {
  return Buffer.from(JSON.stringify({ id: reference.id, key: reference.key, size: reference.size, sha256: reference.sha256 }));
}

/** Reads a reference from a record value; undefined when the value is not one. */
export function parseReference(value: Uint8Array | null): ClaimCheckReference | undefined {
  if (value === null || value.length > 1024) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { id, key, size, sha256 } = parsed as Record<string, unknown>;
  if (typeof id !== 'string' || !BLOB_ID_PATTERN.test(id)) return undefined;
  if (typeof key !== 'string' || !key.endsWith(`/${id}`)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_BLOB_BYTES) return undefined;
  if (typeof sha256 !== 'string' || !SHA256_PATTERN.test(sha256)) return undefined;
  return { id, key, size, sha256 };
}

/** True when a header list marks its record as a claim check. */
export function hasClaimCheckHeader(headers: ReadonlyArray<{ key: string }>): boolean {
  return headers.some((h) => h.key === CLAIM_CHECK_HEADER);
}

/** True for a lower-case hex SHA-256 digest. */
export function isSha256Hex(value: string): boolean {
  return SHA256_PATTERN.test(value);
}
