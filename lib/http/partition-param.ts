import { invalidRequest } from '../errors.ts';
import { checkPartition, getTopic } from '../log/topics.ts';
import { validateTopicName } from '../log/topic-name.ts';
import type { Storage } from '../storage/clients.ts';
import type { TopicItem } from '../storage/schema.ts';
import { pathParameter, type HttpRequest } from './request.ts';

/** The topic and partition a partition route names, checked to exist. */
export async function partitionOf(request: HttpRequest, storage: Storage): Promise<{ topic: TopicItem; partition: number }> {
  const topicName = validateTopicName(pathParameter(request, 'topic'));
  const partitionText = pathParameter(request, 'partition');
  if (!/^\d{1,4}$/.test(partitionText)) throw invalidRequest(`Partition must be a non-negative integer, got ${JSON.stringify(partitionText)}`);
  const partition = Number(partitionText);
  const topic = await getTopic(storage, topicName);
  checkPartition(topic, partition);
  return { topic, partition };
}

