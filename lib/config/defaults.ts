/**
 * Every default and limit in one place. Where Kafka has a default, this is Kafka's
 * (topic configs from Kafka's TopicConfig / LogConfig); where AWS imposes a limit, the
 * comment names it.
 */

/** Topic-level config defaults, as Kafka's broker applies them to a new topic. */
export const TOPIC_CONFIG_DEFAULTS = {
  /** Kafka `retention.ms`: 7 days. -1 keeps records forever. */
  'retention.ms': 604_800_000,
  /** Kafka `retention.bytes`: no size limit per partition. */
  'retention.bytes': -1,
  /** Kafka `max.message.bytes`: 1 MiB plus the 12-byte batch overhead (1048588). */
  'max.message.bytes': 1_048_588,
  /** Kafka `cleanup.policy`. */
  'cleanup.policy': 'delete',
  /** Kafka `message.timestamp.type`. */
  'message.timestamp.type': 'CreateTime',
  /** Kafka `delete.retention.ms`: how long a compacted topic keeps tombstones (1 day). */
  'delete.retention.ms': 86_400_000,
  /** Kafka `min.compaction.lag.ms`: records younger than this are never compacted. */
  'min.compaction.lag.ms': 0,
  /**
   * Sluice's own: produce answers 429 while a consumer group lags the topic by more than this
   * many records (lib/log/backpressure.ts). -1 turns it off. Kafka has no such config.
   */
  'sluice.backpressure.max.lag.records': -1,
} as const;

export const LIMITS = {
  /** Kafka allows far more, but one topic's heads must stay cheap to list and describe. */
  maxPartitions: 1000,
  /** Kafka's topic name length limit (249: the longest name that fits a file name with suffixes). */
  maxTopicNameLength: 249,
  /**
   * Largest `max.message.bytes` a topic may set. Lambda's synchronous payload limit is 6 MB
   * and API Gateway base64-encodes binary bodies (×4/3), so one batch must fit in ~4 MiB for
   * a fetch to always return at least one whole batch.
   */
  maxMessageBytesCap: 4 * 1024 * 1024,
  /**
   * Largest request body (raw bytes) we accept. Lambda refuses an invocation over 6 MB
   * (6,291,456 bytes), and API Gateway base64-encodes binary bodies into it: 4.25 MiB
   * becomes 5.67 MiB, leaving room for headers and the rest of the event, so a client
   * always sees this limit's 413 rather than the gateway's own failure. It still carries
   * one batch of the largest max.message.bytes (maxMessageBytesCap).
   */
  maxRequestBytes: 4 * 1024 * 1024 + 256 * 1024,
  /** Lambda's synchronous invocation payload limit ("6 MB"), for request and response alike. */
  lambdaPayloadBytes: 6 * 1024 * 1024,
  /**
   * Deepest nesting of arrays and objects in a JSON body or a value fetched with
   * encoding=json. JSON.stringify overflows the stack at about 4,000 levels.
   */
  maxJsonDepth: 100,
  /** Longest error message sent back; messages that echo input are cut here. */
  maxErrorMessageChars: 1024,
  /** The local server's deadline for a whole request body; API Gateway's integration timeout is 30 s. */
  requestBodyTimeoutMs: 30_000,
  /** Records in one JSON produce request. */
  maxRecordsPerRequest: 10_000,
  /** Default bytes per fetch, as Kafka's `max.partition.fetch.bytes` (1 MiB). */
  defaultFetchMaxBytes: 1_048_576,
  /** Ceiling on a fetch response body before encoding; keeps any response under Lambda's 6 MB. */
  maxFetchResponseBytes: 4 * 1024 * 1024,
  /** Default and ceiling on records in one JSON fetch. */
  defaultFetchMaxRecords: 500,
  maxFetchMaxRecords: 10_000,
  /** Long-poll ceiling (the API Gateway integration timeout is 30 s). */
  maxWaitMs: 20_000,
  /** How often a long poll re-reads the partition head. */
  longPollIntervalMs: 100,
  /** Index entries read per fetch query; a fetch never needs more than its byte budget's worth. */
  fetchIndexPageSize: 100,
  /** Byte-range GETs one fetch runs at once (unmerged logs have many small objects). */
  fetchObjectConcurrency: 16,
  /**
   * Partitions a client puts in one produce request: the most an idempotent request can
   * commit in one DynamoDB transaction (100 items: three per partition, plus the topic
   * check and the producer-id check), so every request the client sends is atomic. The
   * server takes wider requests and commits them in several transactions (lib/log/commit-groups.ts).
   */
  maxPartitionsPerCommit: 32,
} as const;

export const SEQUENCER = {
  /** Attempts at the conditional commit before answering a retriable 429. */
  maxAttempts: 20,
  /** Backoff base and cap for lost races (full jitter). */
  backoffBaseMs: 10,
  backoffCapMs: 500,
  /** Retry-After sent with THROTTLING_QUOTA_EXCEEDED. */
  retryAfterSeconds: 1,
  /**
   * Group commit (lib/log/group-commit.ts): a writer whose draft waits in the table gives up
   * (withdrawing it) after this long and answers 429.
   */
  groupCommitDeadlineMs: 10_000,
  /**
   * A waiting draft may be adopted until this long after it was left: well past its writer's
   * deadline (clock skew between instances) and far below orphanGraceMs, so no object a
   * waiting draft names is ever collected as an orphan before it could be committed.
   */
  waitingDraftExpiryMs: 60_000,
  /** After a lost race, this process looks for waiting drafts to adopt on that partition for this long. */
  contentionMemoryMs: 10_000,
  /** A waiting writer reads its own item this often (± half, jittered) to learn its offset. */
  groupCommitPollMs: 30,
  /**
   * A waiting writer that nobody adopted within this long (to twice it, jittered) commits
   * itself, adopting the others: the next arrival usually carries it sooner, and a writer
   * that waits instead of racing keeps transactions from conflicting with each other.
   */
  groupCommitTakeoverMs: 100,
  /** Backoff of a writer that cannot wait (its producer is met at sequence 0). */
  groupCommitBackoffBaseMs: 5,
  groupCommitBackoffCapMs: 80,
  /** Other writers' drafts one transaction adopts at most (3 items each, of DynamoDB's 100). */
  maxAdoptedDrafts: 30,
  /**
   * Segment combining (lib/log/segment-combining.ts), as PostgreSQL's commit_delay and
   * commit_siblings: while at least this many other requests for the partition are
   * committing in this process, the next shared object waits this long to fill before its
   * PUT. A lone producer never waits.
   */
  combineLingerMs: 5,
  combineLingerSiblings: 4,
} as const;

/**
 * Work one call may spend decoding batches: a produce request validating what it was sent,
 * or a fetch, ListOffsets or compaction visit reading what is stored. A batch may inflate
 * to 64 MiB on its own (MAX_DECOMPRESSED_BYTES); these bound the sum, so a request of many
 * small bombs is refused (413 MESSAGE_TOO_LARGE) within a second or two instead of running
 * into Lambda's 29 s and 1 GB. Kafka has no such limit because a broker is not billed per call.
 */
export const DECODE_BUDGET = {
  /**
   * Decompressed bytes, summed over every batch the call decodes: one full-size batch, a
   * 15-fold expansion of the largest request. zstd decodes synchronously (wasm), so this
   * also bounds how long one call can hold the event loop (about 80 ms per 64 MiB).
   */
  maxInflatedBytes: 64 * 1024 * 1024,
  /** Records walked (validated or read), summed over the call. */
  maxRecords: 1_000_000,
  /** Wall time spent decoding (decompression included), summed over the call. */
  maxDecodeMs: 3_000,
  /** Synchronous decoding yields to the event loop after this long, so other requests still run. */
  sliceMs: 20,
} as const;

/**
 * Decoding one key-compaction visit may do: the records it holds for its key map are views
 * into the inflated batches, so this bounds its memory in the 512 MB compact function.
 * As Kafka's cleaner with a full dedupe buffer, a visit cleans the prefix that fits.
 */
export const COMPACTION_DECODE_BUDGET = {
  maxInflatedBytes: 64 * 1024 * 1024,
  maxRecords: 500_000,
  maxDecodeMs: 10_000,
} as const;

/** Bytes cached from immutable segment objects across warm invocations. */
export const SEGMENT_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * The compact function's thresholds. Each can be overridden by an environment variable of
 * the same name in SCREAMING_SNAKE case prefixed with SLUICE_ (lib/retention/options.ts).
 */
export const COMPACTION = {
  /** A committed segment smaller than this is a candidate for merging. */
  smallSegmentBytes: 1024 * 1024,
  /** Merged objects grow up to this size; kept within one fetch's byte ceiling. */
  mergeTargetBytes: 4 * 1024 * 1024,
  /** Merge only runs of at least this many small segments. */
  mergeMinSegments: 8,
  /**
   * Objects leave S3 this long after their index entries leave DynamoDB, so a fetch that
   * read the index just before can still read them. Far above a fetch's duration.
   */
  deleteGraceMs: 5 * 60 * 1000,
  /**
   * An unreferenced object is an orphan only when older than this: longer than a Lambda's
   * maximum run time (15 min), so a produce that wrote its object and has not committed
   * yet never loses it.
   */
  orphanGraceMs: 60 * 60 * 1000,
  /** How long a compaction run holds a partition's lease. */
  leaseMs: 5 * 60 * 1000,
  /**
   * How often each partition's objects are listed in full to find orphans (incrementally,
   * `orphanPagesPerVisit` LIST pages of 1,000 keys per visit). Also the longest a partition
   * with nothing else due waits between visits.
   */
  orphanSweepIntervalMs: 24 * 60 * 60 * 1000,
  /** LIST pages (1,000 keys each) one visit's orphan sweep reads at most; bounds its memory. */
  orphanPagesPerVisit: 100,
  /**
   * Lifecycle tags are renewed this long before they could expire an object the index still
   * names (a late visit's slack); S3 lifecycle itself may run up to a day late, never early.
   */
  retagMarginMs: 12 * 60 * 60 * 1000,
  /** One partition's work per visit stops after this long and resumes on the next pass. */
  visitBudgetMs: 60 * 1000,
  /** A partition whose visit failed is retried after this long, behind the others. */
  retryAfterFailureMs: 15 * 60 * 1000,
  /** How often the scheduled pass looks for partitions with data that are not yet scheduled. */
  discoveryIntervalMs: 60 * 60 * 1000,
  /** Kafka `log.retention.check.interval.ms`: a partition's retention is checked at most this often. */
  retentionCheckIntervalMs: 5 * 60 * 1000,
  /** Index entries read per page by retention (it stops at the first page with an entry it keeps). */
  retentionPageSize: 100,
  /** Produce asks for key compaction of a compacted topic's partition each time it grows by this (lib/retention/trigger.ts). */
  triggerBytes: 256 * 1024 * 1024,
} as const;

/** Lag-driven backpressure (topic config `sluice.backpressure.max.lag.records`; lib/log/backpressure.ts). */
export const BACKPRESSURE = {
  /**
   * How long one instance reuses a topic's lag figure before reading it again; overridable
   * with SLUICE_BACKPRESSURE_LAG_CACHE_MS. Produce may admit records this long after a group
   * fell behind, and throttle this long after it caught up. A backpressure 429's Retry-After
   * is this period in whole seconds (at least 1): the soonest the answer can change.
   */
  lagCacheMs: 5_000,
  /** Groups whose offsets one lag reading considers at most (each costs one Query). */
  maxGroups: 100,
} as const;

/** Per-partition produce rates (lib/log/partition-rates.ts). */
export const PRODUCE_RATES = {
  /** Rates cover about this long: the current bucket and the full ones before it. */
  windowMs: 60_000,
  /** Counts are kept per bucket of this length, one DynamoDB item per partition and bucket. */
  bucketMs: 10_000,
  /** An instance writes its counts of a partition at most this often (and when a bucket ends); SLUICE_PRODUCE_RATE_FLUSH_MS overrides it. */
  flushIntervalMs: 5_000,
} as const;

/** Consumer-group defaults, as Kafka's KIP-848 group coordinator (group.consumer.*). */
export const GROUPS = {
  /** group.consumer.session.timeout.ms */
  sessionTimeoutMs: 45_000,
  /** group.consumer.heartbeat.interval.ms */
  heartbeatIntervalMs: 5_000,
  /** Bounds a group may choose on its first join (Kafka's min/max for these configs). */
  minSessionTimeoutMs: 1_000,
  maxSessionTimeoutMs: 300_000,
  minHeartbeatIntervalMs: 100,
  /** Attempts at a heartbeat's conditional write before answering a retriable 429. */
  maxAttempts: 12,
  /** KIP-848 rebalance timeout (the consumer's max.poll.interval.ms): time a member has to release a revoked partition. */
  rebalanceTimeoutMs: 300_000,
  /** Size limits of one group: they keep its items under DynamoDB's 400 KB (see lib/groups/schema.ts). */
  maxMembers: 500,
  maxTopics: 100,
  maxPartitions: 10_000,
  /** Expired or fenced members one heartbeat removes at most (a transaction holds 100 items). */
  maxSweptPerHeartbeat: 40,
  /** An empty group with no committed offsets is gone (describe: GROUP_ID_NOT_FOUND) this long after its last member left: Kafka's offsets.retention.minutes (7 days). */
  emptyGroupRetentionMs: 7 * 24 * 60 * 60 * 1000,
} as const;

/** Claim-check blobs (lib/blobs): values uploaded to S3 that records reference. */
export const BLOBS = {
  /** The producer's default `claimCheck.thresholdBytes`: values larger than this are uploaded (256 KiB). */
  thresholdBytes: 262_144,
  /** Values larger than this are uploaded in parts, in parallel; also the default part size. */
  multipartThresholdBytes: 64 * 1024 * 1024,
  /** S3's smallest part (all but the last), 5 MiB. */
  minPartBytes: 5 * 1024 * 1024,
  /** S3's most parts in one upload. */
  maxParts: 10_000,
  /** Parts a client uploads at once. */
  uploadConcurrency: 4,
  /**
   * A produce's claim on a blob older than this belongs to a request that died between its
   * commit and recording its offsets: Lambda's longest run (15 min), plus margin.
   */
  staleClaimMs: 20 * 60 * 1000,
  /** Blob items one collection step reads at most (a page each of due and new blobs). */
  collectPageSize: 100,
} as const;

/** Committed-offset retention and group deletion (lib/groups/offset-retention.ts, delete-group.ts). */
export const OFFSETS = {
  /** Kafka `offsets.retention.minutes` (7 days): how long an empty group's committed offsets are kept (KIP-211). */
  retentionMinutes: 10_080,
  /**
   * How often a live group's offsets have their expiry pushed forward. Offsets expire between
   * retention and retention + 2 × this after the group empties: DynamoDB TTL itself deletes
   * up to a few days late, and Kafka checks only every offsets.retention.check.interval.ms.
   */
  refreshIntervalMs: 12 * 60 * 60 * 1000,
  /** Offsets one heartbeat re-stamps at most (one Query page): a 10,000-partition group takes 100 heartbeats. */
  refreshPageSize: 100,
  /**
   * How long a DeleteGroups holds the group against joins. Longer than the groups function's
   * 29 s timeout, so a live deletion never loses its hold; a crashed one frees the group after it.
   */
  deleteHoldMs: 60_000,
} as const;
