import { createHandler } from '../../lib/http/handler.ts';
import { completeBlobOp, createBlobOp } from '../../lib/http/blobs-api.ts';
import { initProducerIdOp, produce } from '../../lib/http/produce-api.ts';

/** Appends records to a topic; hands out idempotent producer ids and claim-check upload URLs. */
export const handler = createHandler('produce', { produce, initProducerId: initProducerIdOp, createBlob: createBlobOp, completeBlob: completeBlobOp });
