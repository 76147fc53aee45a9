import { describe, expect, it } from 'vitest';
import { encodeReference, parseReference, type ClaimCheckReference } from '../../../lib/blobs/reference.ts';
import { Sluice } from '../../../lib/client/index.ts';

const reference: ClaimCheckReference = {
  id: '001764000000000-0123456789abcdef0123456789abcdef',
  key: 'blobs/orders/t1/001764000000000-0123456789abcdef0123456789abcdef',
  size: 5 * 1024 * 1024 * 1024,
  sha256: 'ab'.repeat(32),
};

describe('claim-check reference', () => {
  it('reads back what it encodes, under 300 bytes for a 5 GiB value', () => {
    const bytes = encodeReference(reference);
    expect(bytes.length).toBeLessThan(300);
    expect(parseReference(bytes)).toEqual(reference);
  });

  it.each([
    ['not JSON', Buffer.from('{')],
    ['null', null],
    ['a key of another blob', encodeReference({ ...reference, key: 'blobs/orders/t1/001764000000000-ffffffffffffffffffffffffffffffff' })],
    ['an id of another shape', encodeReference({ ...reference, id: '../x', key: 'blobs/orders/t1/../x' })],
    ['a size above 5 GiB', encodeReference({ ...reference, size: 5 * 1024 * 1024 * 1024 + 1 })],
    ['an upper-case digest', encodeReference({ ...reference, sha256: 'AB'.repeat(32) })],
  ])('refuses %s', (_what, value) => {
    expect(parseReference(value)).toBeUndefined();
  });
});

describe('producer option claimCheck', () => {
  const sluice = new Sluice({ url: 'http://127.0.0.1:1' });

  it.each([
    ['a negative threshold', { thresholdBytes: -1 }],
    ['a part under S3’s 5 MiB minimum', { partSizeBytes: 1024 }],
  ])('fails on %s with INVALID_CONFIG', (_what, claimCheck) => {
    expect(() => sluice.producer({ claimCheck })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });

  it('fails on an unknown key naming it', () => {
    expect(() => sluice.producer({ claimCheck: { threshold: 5 } as never })).toThrow(/threshold/);
  });

  it('takes false and the defaults', () => {
    expect(sluice.producer({ claimCheck: false }).options.claimCheck).toBe(false);
    expect(sluice.producer().options.claimCheck).toEqual({ thresholdBytes: 262_144 });
  });
});
