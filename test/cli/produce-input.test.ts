import { describe, expect, it } from 'vitest';
import { AckTracker } from '../../cli/ack-tracker.ts';
import { RecordSplitter } from '../../cli/input.ts';
import { recordParser, type RecordParserOptions } from '../../cli/record-parser.ts';

const text = (records: Buffer[]) => records.map((r) => r.toString('utf8'));

describe('RecordSplitter', () => {
  it('splits at a multi-byte delimiter that straddles chunks, and keeps the unterminated tail for end()', () => {
    const splitter = new RecordSplitter(Buffer.from('||'));
    expect(text(splitter.push(Buffer.from('a||b|')))).toEqual(['a']);
    expect(text(splitter.push(Buffer.from('|c')))).toEqual(['b']);
    expect(text(splitter.push(Buffer.from('||||')))).toEqual(['c', '']);
    expect(text(splitter.push(Buffer.from('tail')))).toEqual([]);
    expect(text(splitter.end())).toEqual(['tail']);
    expect(splitter.end()).toEqual([]);
  });

  it('splits a 1,000,000-record input fed in 64 KiB chunks into exactly its records', () => {
    const input = Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => `r${i}\n`).join(''));
    const splitter = new RecordSplitter(Buffer.from('\n'));
    let count = 0;
    let last = '';
    for (let at = 0; at < input.length; at += 65_536) {
      const records = splitter.push(input.subarray(at, at + 65_536));
      count += records.length;
      if (records.length > 0) last = (records.at(-1) as Buffer).toString();
    }
    expect(splitter.end()).toEqual([]);
    expect(count).toBe(1_000_000);
    expect(last).toBe('r999999');
  });
});

describe('recordParser', () => {
  const base: RecordParserOptions = { keyFormat: 'string', valueFormat: 'string', parseHeaders: false, headersDelimiter: '\t', headersSeparator: ',', headerKeySeparator: ':', headers: [], trimCarriageReturn: true };

  it('drops the CR of a CRLF line in text formats, and keeps it in raw', () => {
    expect(recordParser(base)(Buffer.from('v\r'), 1).value).toEqual(Buffer.from('v'));
    expect(recordParser({ ...base, valueFormat: 'raw' })(Buffer.from('v\r'), 1).value).toEqual(Buffer.from('v\r'));
  });

  it('splits at the first key separator only, so values may contain it', () => {
    expect(recordParser({ ...base, keySeparator: ':' })(Buffer.from('k:a:b'), 1)).toMatchObject({ key: Buffer.from('k'), value: Buffer.from('a:b') });
  });

  it('refuses a header without its key separator, naming the line', () => {
    expect(() => recordParser({ ...base, parseHeaders: true })(Buffer.from('novalue\tv'), 7)).toThrow('Line 7 has a header without the key separator ":"');
  });

  it('rejects base64 that Buffer would silently truncate', () => {
    expect(() => recordParser({ ...base, valueFormat: 'base64' })(Buffer.from('aGVsbG8'), 2)).toThrow('Line 2 has a value that is not base64');
  });
});

describe('AckTracker', () => {
  it('reports the lines acknowledged from line 1 on, whatever order sends complete in', () => {
    const acks = new AckTracker();
    const first = acks.sent(1, 10, 100);
    const second = acks.sent(11, 5, 50);
    const third = acks.sent(16, 5, 50);
    acks.acknowledged(second);
    expect(acks.summary(1, false)).toBe('Produced 5 records in 1.0 s: no line acknowledged; lines 1-20 not all acknowledged.\n');
    acks.acknowledged(first);
    acks.failed(third);
    expect(acks.summary(2, true)).toBe('Interrupted. Produced 15 records in 2.0 s: lines 1-15 acknowledged; lines 16-20 not all acknowledged.\n');
  });
});
