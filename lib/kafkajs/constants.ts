/**
 * kafkajs's constants with its values: CompressionTypes (the RecordBatch attribute codes),
 * logLevel, Partitioners and PartitionAssigners, and a logger shaped like kafkajs's.
 */
import type { Compression } from '../client/index.ts';

export const CompressionTypes = { None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 } as const;
export type CompressionTypes = (typeof CompressionTypes)[keyof typeof CompressionTypes];

/** The native codec for a kafkajs compression code. */
export function compressionOf(code: number | undefined): Compression | undefined {
  const names: Record<number, Compression> = { 0: 'none', 1: 'gzip', 2: 'snappy', 3: 'lz4', 4: 'zstd' };
  return code === undefined ? undefined : names[code];
}

export enum logLevel {
  NOTHING = 0,
  ERROR = 1,
  WARN = 2,
  INFO = 4,
  DEBUG = 5,
}

export interface LogEntry {
  namespace: string;
  level: logLevel;
  label: string;
  log: { timestamp: string; message: string; [key: string]: unknown };
}

export type logCreator = (level: logLevel) => (entry: LogEntry) => void;

export interface Logger {
  info(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
  warn(message: string, extra?: object): void;
  debug(message: string, extra?: object): void;
  namespace(namespace: string, level?: logLevel): Logger;
  setLogLevel(level: logLevel): void;
}

const LABELS: Record<number, string> = { 1: 'ERROR', 2: 'WARN', 4: 'INFO', 5: 'DEBUG' };

/** kafkajs's default log creator: one JSON line per entry on the console. */
const consoleLogCreator: logCreator = () => (entry) => {
  const line = JSON.stringify({ level: entry.label, ...entry.log, logger: 'sluice/kafkajs', namespace: entry.namespace });
  if (entry.level <= logLevel.ERROR) console.error(line);
  else if (entry.level === logLevel.WARN) console.warn(line);
  else console.log(line);
};

/** A logger writing entries at or below `level` through `creator` (kafkajs's default: the console, level INFO). */
export function createLogger(level: logLevel = logLevel.INFO, creator: logCreator = consoleLogCreator, namespace = ''): Logger {
  let current = level;
  const write = creator(level);
  const at = (entryLevel: logLevel) => (message: string, extra: object = {}) => {
    if (entryLevel > current) return;
    write({ namespace, level: entryLevel, label: LABELS[entryLevel] ?? 'INFO', log: { timestamp: new Date().toISOString(), message, ...extra } });
  };
  return {
    error: at(logLevel.ERROR),
    warn: at(logLevel.WARN),
    info: at(logLevel.INFO),
    debug: at(logLevel.DEBUG),
    namespace: (child, childLevel) => createLogger(childLevel ?? current, creator, child),
    setLogLevel: (next) => (current = next),
  };
}

export interface PartitionerArgs {
  topic: string;
  partitionMetadata: Array<{ partitionErrorCode: number; partitionId: number; leader: number; replicas: number[]; isr: number[]; offlineReplicas?: number[] }>;
  message: { key?: Buffer | string | null; value: Buffer | string | null; partition?: number; headers?: object; timestamp?: string };
}
export type ICustomPartitioner = () => (args: PartitionerArgs) => number;

/**
 * The built-in partitioners as markers: Sluice always maps a key with Kafka's murmur2, which is
 * what DefaultPartitioner and JavaCompatiblePartitioner do. LegacyPartitioner (kafkajs 1.x's
 * mapping) would put keys on other partitions than Kafka's, so the producer refuses it.
 */
export const Partitioners = {
  DefaultPartitioner: (() => () => -1) as ICustomPartitioner,
  JavaCompatiblePartitioner: (() => () => -1) as ICustomPartitioner,
  LegacyPartitioner: (() => () => -1) as ICustomPartitioner,
};

export type PartitionAssigner = (config: { cluster: unknown; groupId: string; logger: Logger }) => unknown;

/** roundRobin maps onto the server's 'uniform' assignor (assignment is the group's, server side, as in KIP-848). */
export const PartitionAssigners = { roundRobin: (() => ({ name: 'RoundRobinAssigner', version: 0 })) as PartitionAssigner };
