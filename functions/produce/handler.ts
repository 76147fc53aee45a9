import { createHandler } from '../../lib/http/handler.ts';
import { produce } from '../../lib/http/produce-api.ts';

/** Appends records to a topic. */
export const handler = createHandler('produce', { produce });
