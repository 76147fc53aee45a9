/**
 * A Sluice group description in kafkajs's shape. kafkajs hands members' assignment and
 * subscription as Kafka's consumer-protocol bytes (what AssignerProtocol.MemberAssignment.decode
 * reads), so they are encoded here:
 *
 *   Assignment   => version:int16 [topic:string [partition:int32]] userData:bytes
 *   Subscription => version:int16 [topic:string] userData:bytes
 */
import type { GroupDescription as NativeGroupDescription } from '../client/index.ts';

export interface MemberDescription {
  clientHost: string;
  clientId: string;
  memberId: string;
  memberAssignment: Buffer;
  memberMetadata: Buffer;
}

export interface GroupDescription {
  groupId: string;
  members: MemberDescription[];
  protocol: string;
  protocolType: string;
  state: string;
  errorCode: number;
}

function kafkaString(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const out = Buffer.alloc(2 + bytes.length);
  out.writeInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function int16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeInt16BE(value, 0);
  return out;
}

function int32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32BE(value, 0);
  return out;
}

/** Kafka's ConsumerProtocolAssignment v0 for these partitions, with empty user data. */
export function encodeAssignment(assignment: ReadonlyArray<{ topic: string; partitions: readonly number[] }>): Buffer {
  const parts = [int16(0), int32(assignment.length)];
  for (const { topic, partitions } of assignment) parts.push(kafkaString(topic), int32(partitions.length), ...partitions.map(int32));
  parts.push(int32(0));
  return Buffer.concat(parts);
}

/** Kafka's ConsumerProtocolSubscription v0 for these topics, with empty user data. */
export function encodeSubscription(topics: readonly string[]): Buffer {
  return Buffer.concat([int16(0), int32(topics.length), ...topics.map(kafkaString), int32(0)]);
}

/**
 * Sluice's states onto Kafka's classic ones: a KIP-848 group assigning or reconciling is
 * what kafkajs calls rebalancing.
 */
const STATES: Record<NativeGroupDescription['state'], string> = { Empty: 'Empty', Assigning: 'PreparingRebalance', Reconciling: 'CompletingRebalance', Stable: 'Stable', Dead: 'Dead' };

export function toGroupDescription(described: NativeGroupDescription): GroupDescription {
  return {
    groupId: described.group,
    members: described.members.map((m) => ({ clientHost: '', clientId: '', memberId: m.memberId, memberAssignment: encodeAssignment(m.assignment), memberMetadata: encodeSubscription(m.subscribedTopics) })),
    protocol: described.assignor,
    protocolType: 'consumer',
    state: STATES[described.state] ?? described.state,
    errorCode: 0,
  };
}

/** kafkajs's answer for a group id that has never had a member or a commit. */
export function deadGroup(groupId: string): GroupDescription {
  return { groupId, members: [], protocol: '', protocolType: '', state: 'Dead', errorCode: 0 };
}
