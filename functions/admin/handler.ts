import { createHandler } from '../../lib/http/handler.ts';
import { alterTopicOp, createTopicOp, deleteRecordsOp, deleteTopicOp, describeTopicOp, health, listTopicsOp } from '../../lib/http/topics-api.ts';

/** Topic administration, DeleteRecords and health. */
export const handler = createHandler('admin', {
  health,
  createTopic: createTopicOp,
  listTopics: listTopicsOp,
  describeTopic: describeTopicOp,
  alterTopic: alterTopicOp,
  deleteTopic: deleteTopicOp,
  deleteRecords: deleteRecordsOp,
});
