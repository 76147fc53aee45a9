import { createHandler } from '../../lib/http/handler.ts';
import { commitOffsetsOp, deleteGroupOp, deleteOffsetsOp, describeGroupOp, fetchOffsetsOp, heartbeatOp, listGroupsOp, resetOffsetsOp } from '../../lib/http/groups-api.ts';

/** Consumer groups: heartbeats (leases and assignment), committed offsets, listing, deletion. */
export const handler = createHandler('groups', {
  listGroups: listGroupsOp,
  describeGroup: describeGroupOp,
  heartbeat: heartbeatOp,
  commitOffsets: commitOffsetsOp,
  fetchOffsets: fetchOffsetsOp,
  resetOffsets: resetOffsetsOp,
  deleteGroup: deleteGroupOp,
  deleteOffsets: deleteOffsetsOp,
});
