/**
 * Which routes each kind of caller may call: the one place the grant methods (IAM) and the
 * JWT route scopes read, so the two authorization modes admit the same callers.
 */
import type { OperationOf, RouteSpec } from '../lib/http/routes.ts';
import { validateTopicName } from '../lib/log/topic-name.ts';
import { JWT_SCOPES, type RouteFamily } from './authorization.ts';

/**
 * Operations a producer may call besides its function's routes: the health check, and the
 * topic metadata (partition count, max.message.bytes) a client needs to partition and batch.
 */
const PRODUCER_OPERATIONS: ReadonlySet<string> = new Set(['health', 'listTopics', 'describeTopic']);

/**
 * The group operations a consumer calls, as a Kafka consumer in a group does: join and stay
 * in it (heartbeat, KIP-848's ConsumerGroupHeartbeat), commit and fetch its offsets
 * (OffsetCommit, OffsetFetch), and list and describe groups. resetOffsets is not among them:
 * see ADMIN_GROUP_OPERATIONS. Listed one by one, not as "the groups function's routes", so
 * a new group route is granted to no one until it is placed here or there.
 */
const CONSUMER_GROUP_OPERATIONS = ['heartbeat', 'commitOffsets', 'fetchOffsets', 'listGroups', 'describeGroup'] as const satisfies readonly OperationOf<'groups'>[];

/**
 * The group operations an administrator calls. resetOffsets is Kafka's
 * `kafka-consumer-groups --reset-offsets` (Admin API AlterConsumerGroupOffsets): an
 * operator's tool, run while the group is empty, never part of a consumer's poll loop; so
 * it is grantAdmin's alone, as are DeleteGroups and OffsetDelete (`--delete`,
 * `--delete-offsets`), for the same reason. With it come the reads the same tool makes (`--list`,
 * `--describe`, the offsets), since whoever resets must first see that the group is empty.
 */
const ADMIN_GROUP_OPERATIONS = ['resetOffsets', 'deleteGroup', 'deleteOffsets', 'listGroups', 'describeGroup', 'fetchOffsets'] as const satisfies readonly OperationOf<'groups'>[];

/** Operations a consumer may call besides the fetch function's routes: the metadata it needs, and its group's coordination and offsets. */
const CONSUMER_OPERATIONS: ReadonlySet<string> = new Set(['health', 'listTopics', 'describeTopic', ...CONSUMER_GROUP_OPERATIONS]);
/** Operations an administrator may call besides the admin function's routes. */
const ADMIN_OPERATIONS: ReadonlySet<string> = new Set(ADMIN_GROUP_OPERATIONS);

/** Whether callers of `family` may call `route`. */
export function familyIncludes(family: RouteFamily, route: RouteSpec): boolean {
  switch (family) {
    case 'produce':
      return route.function === 'produce' || PRODUCER_OPERATIONS.has(route.operation);
    case 'consume':
      return route.function === 'fetch' || CONSUMER_OPERATIONS.has(route.operation);
    case 'admin':
      return route.function === 'admin' || ADMIN_OPERATIONS.has(route.operation);
  }
}

const FAMILIES = Object.keys(JWT_SCOPES) as RouteFamily[];

/** The JWT scopes that admit `route`: one per family that may call it (a token needs any one). */
export function jwtScopesFor(route: RouteSpec): string[] {
  return FAMILIES.filter((family) => familyIncludes(family, route)).map((family) => JWT_SCOPES[family]);
}

/** Narrows a grant: with `topics`, topic routes are granted for those topics alone. */
export interface GrantOptions {
  /**
   * Topic names the grant is limited to; each `{topic}` in a route's path is replaced by
   * each name, so the policy names exact paths. Routes with no topic in their path (health,
   * listing topics, producer ids, groups) are granted as without it.
   * @default - every topic, as `*`; IAM's `*` also matches `/`, so an unscoped
   * `GET /v1/topics/*` (describe a topic) admits every GET below it, fetch included
   */
  readonly topics?: readonly string[];
}

/**
 * The `METHOD/path` patterns of an execute-api ARN that let `family` call its routes: each
 * `{topic}` is one of `options.topics` (or `*`), every other `{param}` is `*`.
 */
export function grantPaths(routes: readonly RouteSpec[], family: RouteFamily, options: GrantOptions = {}): Array<{ method: string; path: string }> {
  const topics = options.topics?.map((t) => {
    try {
      return validateTopicName(t);
    } catch (error) {
      throw new Error(`Invalid grant topics: ${(error as Error).message}`);
    }
  });
  if (topics !== undefined && topics.length === 0) throw new Error('Invalid grant topics: expected at least one topic name, got []');
  const paths = new Map<string, { method: string; path: string }>();
  for (const route of routes.filter((r) => familyIncludes(family, r))) {
    const names = route.path.includes('{topic}') && topics !== undefined ? topics : ['*'];
    for (const name of names) {
      const path = route.path.replace('{topic}', name).replace(/\{[^}]+\}/g, '*');
      paths.set(`${route.method}${path}`, { method: route.method, path });
    }
  }
  return [...paths.values()];
}
