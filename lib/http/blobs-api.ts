/**
 * The claim-check blob routes: register a blob and get presigned upload URLs, complete a
 * multipart upload, and get a presigned download URL. Clients move the bytes to and from S3
 * themselves and never need S3 credentials.
 */
import { z } from 'zod';
import { BLOBS } from '../config/defaults.ts';
import { BLOB_ID_PATTERN, MAX_BLOB_BYTES } from '../blobs/reference.ts';
import { completeBlob, locateBlob, registerBlob } from '../blobs/uploads.ts';
import { SluiceError } from '../errors.ts';
import { getTopic } from '../log/topics.ts';
import { validateTopicName } from '../log/topic-name.ts';
import type { Storage } from '../storage/clients.ts';
import { jsonBody, pathParameter, type HttpRequest } from './request.ts';
import { json, type HttpResponse } from './response.ts';
import { parseWith } from './validation.ts';

const registerSchema = z.strictObject({
  size: z.number().int().min(1).max(MAX_BLOB_BYTES),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lower-case hex digits'),
  /** Part size for a multipart upload; values above it are uploaded in parts. */
  partSizeBytes: z.number().int().min(BLOBS.minPartBytes).max(MAX_BLOB_BYTES).optional(),
});

const completeSchema = z.strictObject({
  parts: z
    .array(z.strictObject({ partNumber: z.number().int().min(1).max(BLOBS.maxParts), etag: z.string().min(1).max(256) }))
    .min(1)
    .max(BLOBS.maxParts),
});

function blobId(request: HttpRequest): string {
  const id = pathParameter(request, 'id');
  if (!BLOB_ID_PATTERN.test(id)) throw new SluiceError('INVALID_REQUEST', `${JSON.stringify(id.slice(0, 64))} is not a blob id`);
  return id;
}

/** POST /v1/topics/{topic}/blobs: registers a blob and answers with presigned PUT URL(s). */
export async function createBlobOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const body = parseWith(registerSchema, jsonBody(request));
  const topic = await getTopic(storage, validateTopicName(pathParameter(request, 'topic')));
  return json(201, await registerBlob(storage, topic, body));
}

/** POST /v1/topics/{topic}/blobs/{id}/complete: completes a multipart upload from its parts' ETags. */
export async function completeBlobOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const body = parseWith(completeSchema, jsonBody(request));
  const id = blobId(request);
  const topic = await getTopic(storage, validateTopicName(pathParameter(request, 'topic')));
  return json(200, await completeBlob(storage, topic, id, body.parts));
}

/** GET /v1/topics/{topic}/blobs/{id}: a presigned GET URL for the blob. */
export async function getBlobOp(request: HttpRequest, storage: Storage): Promise<HttpResponse> {
  const id = blobId(request);
  const topic = await getTopic(storage, validateTopicName(pathParameter(request, 'topic')));
  return json(200, await locateBlob(storage, topic, id));
}
