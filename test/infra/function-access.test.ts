/**
 * FUNCTION_ACCESS against the code: each handler, the compact function's included, is
 * bundled (tree-shaken, SDK left external) and every `new XCommand(` left in the bundle is
 * an AWS call the function can make. The emulators do not check IAM, so without this a new
 * call would first fail as AccessDenied on AWS.
 */
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { DATA_PREFIX } from '../../lib/storage/schema.ts';
import { CLUSTER_FUNCTION_NAMES, type ClusterFunctionName } from '../../infra/cluster-props.ts';
import { COMPACTION_TRIGGERS, FUNCTION_ACCESS } from '../../infra/function-access.ts';
import { functionEntry } from '../../infra/function-bundling.ts';

/** The IAM actions each SDK command needs, whatever its parameters (see callActions for those that depend on them). */
const COMMAND_ACTIONS: Record<string, readonly string[]> = {
  GetCommand: ['dynamodb:GetItem'],
  PutCommand: ['dynamodb:PutItem'],
  UpdateCommand: ['dynamodb:UpdateItem'],
  DeleteCommand: ['dynamodb:DeleteItem'],
  QueryCommand: ['dynamodb:Query'],
  BatchGetCommand: ['dynamodb:BatchGetItem'],
  BatchWriteCommand: ['dynamodb:BatchWriteItem'],
  // No action of its own: IAM checks each item (TRANSACTION_ITEM_ACTIONS).
  TransactWriteCommand: [],
  DescribeTableCommand: ['dynamodb:DescribeTable'],
  HeadBucketCommand: ['s3:ListBucket'],
  ListObjectsV2Command: ['s3:ListBucket'],
  GetObjectCommand: ['s3:GetObject'],
  PutObjectCommand: ['s3:PutObject'],
  PutObjectTaggingCommand: ['s3:PutObjectTagging'],
  DeleteObjectCommand: ['s3:DeleteObject'],
  // Multi-object delete is authorized as s3:DeleteObject on each key.
  DeleteObjectsCommand: ['s3:DeleteObject'],
  // HEAD is authorized as GET.
  HeadObjectCommand: ['s3:GetObject'],
  // The multipart calls are authorized as the PutObject they make up.
  CreateMultipartUploadCommand: ['s3:PutObject'],
  UploadPartCommand: ['s3:PutObject'],
  CompleteMultipartUploadCommand: ['s3:PutObject'],
  AbortMultipartUploadCommand: ['s3:AbortMultipartUpload'],
};

/**
 * The action IAM checks for each kind of TransactWriteItems item. Items are found by their
 * shape, `Put: { TableName: …`, anywhere in the bundle: the sequencer builds them apart from
 * the call, the compact function inline.
 */
const TRANSACTION_ITEM_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/** Calls granted by scheduleCompaction rather than FUNCTION_ACCESS: they invoke the compact function. */
const COMPACTION_COMMANDS = new Set(['InvokeCommand']);

/** Granted beyond the calls, and why (see function-access.ts). */
const EXTRA_GRANTS: Partial<Record<ClusterFunctionName, readonly string[]>> = {
  // A GetObject of a missing key answers 404 only to a caller who may list the bucket.
  fetch: ['s3:ListBucket'],
  // The same: a reset to a timestamp runs fetch's lookupOffset, which skips a removed object by its 404.
  groups: ['s3:ListBucket'],
  // The same: a claim checks a blob's upload with HeadObject, and a missing one must be a 404.
  produce: ['s3:ListBucket'],
};

/** The argument text of the call whose `(` is at `open`, up to the matching `)`; string literals are skipped. */
function callArguments(code: string, open: number): string {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < code.length; i++) {
    const c = code[i];
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'" || c === '`') {
      quote = c;
    } else if (c === '(') {
      depth++;
    } else if (c === ')' && --depth === 0) {
      return code.slice(open + 1, i);
    }
  }
  throw new Error(`unbalanced call at ${open}`);
}

/** One AWS call found in a bundle: the command and the text of its parameters. */
interface Call {
  readonly command: string;
  readonly args: string;
}

/** The IAM actions of one call in `code`: its command's, plus those its parameters add. */
function callActions(call: Call, code: string): string[] {
  const actions = [...(COMMAND_ACTIONS[call.command] ?? [])];
  // S3 authorizes the tags of a PutObject that sets Tagging as s3:PutObjectTagging too.
  if (call.command === 'PutObjectCommand' && /\bTagging\s*:/.test(call.args)) actions.push('s3:PutObjectTagging');
  if (call.command === 'TransactWriteCommand') {
    const kinds = [...code.matchAll(/\b(Put|Update|Delete|ConditionCheck)\s*:\s*\{\s*TableName\b/g)].map((m) => m[1] as string);
    expect(kinds.length, 'TransactWriteItems items in the bundle').toBeGreaterThan(0);
    actions.push(...kinds.map((k) => TRANSACTION_ITEM_ACTIONS[k] as string));
  }
  return actions;
}

const bundles = {} as Record<ClusterFunctionName, string>;
const calls = {} as Record<ClusterFunctionName, Call[]>;
const commands = {} as Record<ClusterFunctionName, string[]>;
beforeAll(async () => {
  for (const name of CLUSTER_FUNCTION_NAMES) {
    const result = await build({ entryPoints: [functionEntry(name)], bundle: true, platform: 'node', format: 'esm', external: ['@aws-sdk/*'], write: false, logLevel: 'silent' });
    const code = result.outputFiles[0]?.text ?? '';
    bundles[name] = code;
    // esbuild renames repeated imports QueryCommand2, QueryCommand3…
    calls[name] = [...code.matchAll(/new ([A-Za-z0-9]*Command)\d*\(/g)].map((m) => ({ command: m[1] as string, args: callArguments(code, (m.index as number) + m[0].length - 1) }));
    commands[name] = [...new Set(calls[name].map((c) => c.command))].sort();
  }
});

describe('FUNCTION_ACCESS', () => {
  it.each(CLUSTER_FUNCTION_NAMES)('knows the IAM actions of every AWS call the %s function makes', (name) => {
    expect(commands[name].length).toBeGreaterThan(0);
    for (const command of commands[name].filter((c) => !COMPACTION_COMMANDS.has(c))) expect(COMMAND_ACTIONS, `${name} calls ${command}`).toHaveProperty(command);
  });

  it.each(CLUSTER_FUNCTION_NAMES)('lists the %s function in COMPACTION_TRIGGERS if it invokes the compact function', (name) => {
    if (commands[name].some((c) => COMPACTION_COMMANDS.has(c))) expect(COMPACTION_TRIGGERS).toContain(name);
    else expect(COMPACTION_TRIGGERS).not.toContain(name);
  });

  it.each(CLUSTER_FUNCTION_NAMES)('grants the %s function exactly what its calls need', (name) => {
    const needed = new Set([...calls[name].filter((c) => !COMPACTION_COMMANDS.has(c.command)).flatMap((c) => callActions(c, bundles[name])), ...(EXTRA_GRANTS[name] ?? [])]);
    const access = FUNCTION_ACCESS[name];
    const granted = new Set([...access.table, ...access.bucket, ...access.objects, ...(access.blobObjects ?? [])]);
    expect([...granted].sort()).toEqual([...needed].sort());
  });

  it('grants s3:PutObjectTagging to produce and compact, whose PutObjects tag the lifecycle expiry', () => {
    for (const name of ['produce', 'compact'] as const) {
      expect(calls[name].some((c) => c.command === 'PutObjectCommand' && /\bTagging\s*:/.test(c.args)), name).toBe(true);
      expect(FUNCTION_ACCESS[name].objects).toContain('s3:PutObjectTagging');
    }
  });

  it.each(['fetch', 'groups'] as const)('lets the %s function list the bucket without a prefix condition, so it can tell a removed object by its 404', (name) => {
    // readObjectRange maps NoSuchKey to MissingObjectError, which lookupOffset and fetch skip
    // as removed by retention; S3 sends NoSuchKey only to a caller who may list the bucket.
    expect(commands[name]).toContain('GetObjectCommand');
    expect(bundles[name].includes('NoSuchKey')).toBe(true);
    expect(FUNCTION_ACCESS[name].bucket).toEqual(['s3:ListBucket']);
    expect(FUNCTION_ACCESS[name].listPrefix).toBeUndefined();
  });

  it("confines the compact function's listings to data/: it always lists with a prefix and never calls HeadBucket", () => {
    expect(FUNCTION_ACCESS.compact.listPrefix).toBe(DATA_PREFIX);
    // The s3:prefix condition denies a request without a prefix, HeadBucket included.
    expect(commands.compact).not.toContain('HeadBucketCommand');
    expect(calls.compact.filter((c) => c.command === 'ListObjectsV2Command').every((c) => /\bPrefix\s*:/.test(c.args))).toBe(true);
  });
});
