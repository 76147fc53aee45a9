/**
 * Presigned S3 URLs for blob uploads and downloads: clients move the bytes straight to and
 * from S3 and never hold S3 credentials; the function that signs needs only the permission
 * the URL exercises. The local stack signs against s3rver the same way.
 */
import { GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { SluiceEnv } from '../config/env.ts';

/**
 * How long a presigned URL may be used (S3 checks it when a request starts, so an upload
 * begun in time may run longer). Well under the orphan grace, so an upload never lands
 * after its unclaimed blob was collected.
 */
export const PRESIGNED_URL_TTL_SECONDS = 900;

let signer: { env: SluiceEnv; s3: S3Client } | undefined;

/**
 * A client for signing only. Flexible checksums stay off unless an operation requires them:
 * otherwise the SDK signs a checksum of the empty body into a PUT URL, and S3 refuses the
 * real body.
 */
function signingClient(env: SluiceEnv): S3Client {
  if (signer?.env !== env) {
    const s3 = new S3Client({
      region: env.region,
      forcePathStyle: env.s3ForcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(env.s3Endpoint === undefined ? {} : { endpoint: env.s3Endpoint }),
    });
    signer = { env, s3 };
  }
  return signer.s3;
}

/** A URL that PUTs the whole object. */
export function presignPut(env: SluiceEnv, objectKey: string): Promise<string> {
  return getSignedUrl(signingClient(env), new PutObjectCommand({ Bucket: env.bucketName, Key: objectKey }), { expiresIn: PRESIGNED_URL_TTL_SECONDS });
}

/** A URL that PUTs part `partNumber` (1-based) of a multipart upload. */
export function presignUploadPart(env: SluiceEnv, objectKey: string, uploadId: string, partNumber: number): Promise<string> {
  return getSignedUrl(signingClient(env), new UploadPartCommand({ Bucket: env.bucketName, Key: objectKey, UploadId: uploadId, PartNumber: partNumber }), { expiresIn: PRESIGNED_URL_TTL_SECONDS });
}

/** A URL that GETs the object. */
export function presignGet(env: SluiceEnv, objectKey: string): Promise<string> {
  return getSignedUrl(signingClient(env), new GetObjectCommand({ Bucket: env.bucketName, Key: objectKey }), { expiresIn: PRESIGNED_URL_TTL_SECONDS });
}
