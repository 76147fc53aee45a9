import { createHandler } from '../../lib/http/handler.ts';
import { initProducerIdOp, produce } from '../../lib/http/produce-api.ts';

/** Appends records to a topic; hands out idempotent producer ids. */
export const handler = createHandler('produce', { produce, initProducerId: initProducerIdOp });
