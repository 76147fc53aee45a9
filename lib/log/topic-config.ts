import { TOPIC_CONFIG_DEFAULTS, LIMITS } from '../config/defaults.ts';
import { SluiceError } from '../errors.ts';

/** A topic's configs, typed and complete (defaults filled in). */
export interface TopicConfigs {
  'retention.ms': number;
  'retention.bytes': number;
  'max.message.bytes': number;
  'cleanup.policy': CleanupPolicy;
  'message.timestamp.type': 'CreateTime' | 'LogAppendTime';
  'delete.retention.ms': number;
  'min.compaction.lag.ms': number;
  /** Produce is throttled while a group lags by more records than this; -1: never (lib/log/backpressure.ts). */
  'sluice.backpressure.max.lag.records': number;
}

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete';
export type TopicConfigName = keyof TopicConfigs;

/** Configs as Kafka's admin API carries them: every value a string. */
export type TopicConfigStrings = Record<TopicConfigName, string>;

const CLEANUP_POLICIES: readonly CleanupPolicy[] = ['delete', 'compact', 'compact,delete'];
const TIMESTAMP_TYPES = ['CreateTime', 'LogAppendTime'] as const;

function invalid(name: string, value: unknown, rule: string): SluiceError {
  return new SluiceError('INVALID_CONFIG', `Invalid value ${JSON.stringify(value)} for configuration ${name}: ${rule}`);
}

/** Kafka carries config values as strings; we also take JSON numbers. */
function integer(name: string, value: unknown, min: number, max: number): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^-?\d{1,16}$/.test(text.trim())) throw invalid(name, value, 'must be an integer');
  const parsed = Number(text.trim());
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) throw invalid(name, value, `must be between ${min} and ${max}`);
  return parsed;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string') {
    // Kafka accepts "delete,compact" in either order.
    const normalized = name === 'cleanup.policy' ? value.split(',').map((s) => s.trim()).sort().join(',') : value;
    const found = allowed.find((a) => a === normalized);
    if (found !== undefined) return found;
  }
  throw invalid(name, value, `must be one of ${allowed.join(', ')}`);
}

const PARSERS: { [K in TopicConfigName]: (value: unknown) => TopicConfigs[K] } = {
  'retention.ms': (v) => integer('retention.ms', v, -1, Number.MAX_SAFE_INTEGER),
  'retention.bytes': (v) => integer('retention.bytes', v, -1, Number.MAX_SAFE_INTEGER),
  'max.message.bytes': (v) => integer('max.message.bytes', v, 0, LIMITS.maxMessageBytesCap),
  'cleanup.policy': (v) => oneOf('cleanup.policy', v, CLEANUP_POLICIES),
  'message.timestamp.type': (v) => oneOf('message.timestamp.type', v, TIMESTAMP_TYPES),
  'delete.retention.ms': (v) => integer('delete.retention.ms', v, 0, Number.MAX_SAFE_INTEGER),
  'min.compaction.lag.ms': (v) => integer('min.compaction.lag.ms', v, 0, Number.MAX_SAFE_INTEGER),
  'sluice.backpressure.max.lag.records': (v) => {
    const parsed = integer('sluice.backpressure.max.lag.records', v, -1, Number.MAX_SAFE_INTEGER);
    if (parsed === 0) throw invalid('sluice.backpressure.max.lag.records', v, 'must be -1 (off) or at least 1');
    return parsed;
  },
};

function isConfigName(name: string): name is TopicConfigName {
  return Object.hasOwn(PARSERS, name);
}

/**
 * Validates `changes` (untrusted JSON) and applies them over `base`; never mutates `base`.
 * Unknown names are INVALID_CONFIG, as Kafka rejects them.
 */
export function applyTopicConfigs(base: TopicConfigs, changes: unknown): TopicConfigs {
  if (changes === undefined) return { ...base };
  if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) {
    throw new SluiceError('INVALID_CONFIG', 'configs must be an object of config name to value');
  }
  const next: TopicConfigs = { ...base };
  for (const [name, value] of Object.entries(changes)) {
    if (!isConfigName(name)) throw new SluiceError('INVALID_CONFIG', `Unknown topic config ${JSON.stringify(name)}; supported: ${Object.keys(PARSERS).join(', ')}`);
    setConfig(next, name, value);
  }
  return next;
}

function setConfig<K extends TopicConfigName>(target: TopicConfigs, name: K, value: unknown): void {
  target[name] = PARSERS[name](value);
}

/** A new topic's configs: Kafka's defaults overlaid with `changes`. */
export function topicConfigsFrom(changes: unknown): TopicConfigs {
  return applyTopicConfigs({ ...TOPIC_CONFIG_DEFAULTS }, changes);
}

/** A stored topic's configs with defaults for names added since it was created. */
export function withDefaults(configs: Partial<TopicConfigs>): TopicConfigs {
  return { ...TOPIC_CONFIG_DEFAULTS, ...configs };
}

/** Renders configs the way Kafka's DescribeConfigs does: every value a string. */
export function configStrings(configs: TopicConfigs): TopicConfigStrings {
  return {
    'retention.ms': String(configs['retention.ms']),
    'retention.bytes': String(configs['retention.bytes']),
    'max.message.bytes': String(configs['max.message.bytes']),
    'cleanup.policy': configs['cleanup.policy'],
    'message.timestamp.type': configs['message.timestamp.type'],
    'delete.retention.ms': String(configs['delete.retention.ms']),
    'min.compaction.lag.ms': String(configs['min.compaction.lag.ms']),
    'sluice.backpressure.max.lag.records': String(configs['sluice.backpressure.max.lag.records']),
  };
}
