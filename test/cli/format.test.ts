import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../lib/errors.ts';
import { formatError, formatStringFormatter, jsonFormatter, table, textFormatter } from '../../cli/format.ts';
import { configEntry, keyValue, unescape } from '../../cli/context.ts';
import type { ConsumedMessage } from '../../lib/client/index.ts';

const message: ConsumedMessage = { offset: 7, timestamp: 1_700_000_000_000, key: Buffer.from('user-1'), value: Buffer.from('hello'), headers: { source: Buffer.from('atm'), trace: null } };
const tombstone: ConsumedMessage = { offset: 8, timestamp: 1, key: null, value: null, headers: { tag: [Buffer.from('a'), Buffer.from('b')] } };

describe('CLI formatting', () => {
  it('aligns a table on its widest cells', () => {
    expect(table([['TOPIC', 'PARTITIONS'], ['payments', 6], ['a', 12]])).toBe('TOPIC     PARTITIONS\npayments  6\na         12\n');
  });

  it('prints text as kafka-console-consumer does: headers, key, value, `null` for null', () => {
    const format = textFormatter({ printKey: true, printHeaders: true, separator: '\t' });
    expect(format('t', 0, message)).toBe('source:atm,trace:null\tuser-1\thello\n');
    expect(format('t', 0, { ...tombstone, headers: {} })).toBe('NO_HEADERS\tnull\tnull\n');
    expect(textFormatter({ printKey: false, printHeaders: false, separator: '\t' })('t', 0, message)).toBe('hello\n');
  });

  it('prints one JSON object per line, repeated header keys as arrays', () => {
    expect(JSON.parse(jsonFormatter()('events', 2, message))).toEqual({ topic: 'events', partition: 2, offset: 7, timestamp: 1_700_000_000_000, key: 'user-1', value: 'hello', headers: { source: 'atm', trace: null } });
    expect(JSON.parse(jsonFormatter()('events', 2, tombstone))).toMatchObject({ key: null, value: null, headers: { tag: ['a', 'b'] } });
  });

  it('expands kcat format tokens and escapes', () => {
    expect(formatStringFormatter('%t/%p@%o %T %k=%s (%K,%S) [%h] 100%%\\n')('events', 1, message)).toBe('events/1@7 1700000000000 user-1=hello (6,5) [source=atm,trace=] 100%\n');
    expect(formatStringFormatter('%K %S\\t%k|%s\\n')('e', 0, tombstone)).toBe('-1 -1\t|\n');
  });

  it('prints errors as ERROR_NAME: message, with the stack only when verbose', () => {
    const error = new SluiceError('UNKNOWN_TOPIC_OR_PARTITION', 'Topic x does not exist');
    expect(formatError(error, false)).toBe('UNKNOWN_TOPIC_OR_PARTITION: Topic x does not exist\n');
    expect(formatError(error, true)).toMatch(/^UNKNOWN_TOPIC_OR_PARTITION: Topic x does not exist\nSluiceError: Topic x does not exist\n\s+at /);
    expect(formatError(Object.assign(new Error('no such file'), { code: 'ENOENT' }), false)).toBe('ENOENT: no such file\n');
    expect(formatError('odd', false)).toBe('ERROR: odd\n');
  });

  it('parses one key=value per option, keeping commas and later equals signs in the value', () => {
    expect(keyValue('b=x=y,z', [['a', '1']])).toEqual([['a', '1'], ['b', 'x=y,z']]);
    expect(configEntry('cleanup.policy=compact,delete', { 'retention.ms': '1' })).toEqual({ 'retention.ms': '1', 'cleanup.policy': 'compact,delete' });
    expect(() => keyValue('novalue')).toThrow('Expected key=value');
  });

  it('turns separator escapes into their characters', () => {
    expect(unescape('\\t|\\n|\\0|\\\\')).toBe('\t|\n|\0|\\');
  });
});
