import { createHandler } from '../../lib/http/handler.ts';
import { getBlobOp } from '../../lib/http/blobs-api.ts';
import { fetchRecords, listOffsets } from '../../lib/http/fetch-api.ts';

/** Reads records from a partition by offset, finds offsets by time, and hands out claim-check download URLs. */
export const handler = createHandler('fetch', { fetch: fetchRecords, listOffsets, getBlob: getBlobOp });
