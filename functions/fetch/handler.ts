import { createHandler } from '../../lib/http/handler.ts';
import { fetchRecords, listOffsets } from '../../lib/http/fetch-api.ts';

/** Reads records from a partition by offset, and finds offsets by time. */
export const handler = createHandler('fetch', { fetch: fetchRecords, listOffsets });
