// s3rver's filesystem store made safe against kill -9, for the local stack's persistent data.
//
// As shipped, s3rver answers a PUT before the object's bytes are all written (it resolves
// when its hashing transform finishes, not the file), and writes metadata with a truncating
// writeFile. A kill at the wrong moment leaves a short object behind an acknowledged PUT, or
// a 0-byte metadata file; one such file makes every listing of the bucket fail, and with it
// HeadBucket, so the next start tried CreateBucket and died on "bucket already exists".
//
// Here every file is written whole under a temporary name and renamed into place (rename is
// atomic on one filesystem), the object last, and a PUT is answered only after that. A kill
// can then leave only temporary files, which the next start removes. No fsync: this guards
// against a killed process, not a power cut (the kernel keeps what was written).
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const TEMPORARY = '.partial-';

function temporaryName(path) {
  return `${path}${TEMPORARY}${randomBytes(6).toString('hex')}`;
}

async function writeWhole(path, data) {
  const temporary = temporaryName(path);
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Replaces `store`'s writes (a FilesystemStore) with whole-file ones. */
export function makeCrashSafe(store) {
  store.putMetadata = async (bucket, key, metadata, md5) => {
    const json = {};
    for (const [name, value] of Object.entries(metadata ?? {})) {
      if (METADATA.has(name) || name.startsWith('x-amz-meta-')) json[name] = value;
    }
    if (md5) await writeWhole(store.getResourcePath(bucket, key, 'object.md5'), md5);
    await writeWhole(store.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(json, null, 2));
  };
  store.putSubresource = async (bucket, key, resource) => {
    await writeWhole(store.getResourcePath(bucket, key, `${resource.type}.xml`), resource.toXML(2));
  };
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(path), { recursive: true });
    const temporary = temporaryName(path);
    const md5 = createHash('md5');
    let size = 0;
    try {
      const counting = new Transform({
        transform(chunk, encoding, callback) {
          md5.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      });
      const source = Buffer.isBuffer(object.content) ? [object.content] : object.content;
      // pipeline resolves once the file stream has finished writing, not before.
      await pipeline(source, counting, createWriteStream(temporary));
      const digest = md5.digest('hex');
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      await rename(temporary, path);
      return { size, md5: digest };
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  };
}

// The system metadata s3rver keeps besides x-amz-meta-*.
const METADATA = new Set(createRequire(import.meta.url)('s3rver/lib/models/object.js').ALLOWED_METADATA);

function parses(path, parse) {
  try {
    parse(readFileSync(path, 'utf8'));
    return true;
  } catch {
    return false;
  }
}

function files(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    return entry.isDirectory() ? files(path) : [path];
  });
}

function isEmpty(path) {
  try {
    return statSync(path).size === 0;
  } catch {
    return false;
  }
}

/**
 * Removes what a killed s3rver left half-written under `root`: temporary files, and objects
 * whose metadata does not parse (with their other files). Such a PUT was never answered, so
 * no index entry can name its object. Returns the paths removed.
 */
export function repairStore(root) {
  const removed = [];
  const remove = (path) => {
    if (!existsSync(path)) return;
    rmSync(path);
    removed.push(path);
  };
  for (const path of files(root)) {
    if (path.includes(TEMPORARY)) remove(path);
    else if (path.endsWith('._S3rver_metadata.json') && !parses(path, JSON.parse)) {
      const stem = path.slice(0, -'metadata.json'.length);
      for (const suffix of ['metadata.json', 'object', 'object.md5']) remove(`${stem}${suffix}`);
    } else if (path.endsWith('._S3rver_object.md5') && isEmpty(path)) remove(path);
    else if (path.endsWith('.xml') && path.includes('._S3rver_') && isEmpty(path)) remove(path);
  }
  return removed;
}
