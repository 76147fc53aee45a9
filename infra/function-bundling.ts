/**
 * How a handler under functions/ becomes a Lambda asset: esbuild on this machine (never
 * Docker), one minified ESM file with a source map, plus the zstd WebAssembly binary.
 *
 * Why the wasm needs care: @bokuweb/zstd-wasm is CommonJS and, in `init()`, reads
 * `resolve(__dirname, './zstd.wasm')` with a runtime `require('fs/promises')`. Bundled
 * into ESM, neither `__dirname` nor `require` exists, and esbuild inlines the JS but not
 * the binary. So the banner defines both from `import.meta.url` (the bundle's own folder
 * at run time, /var/task on Lambda), and an afterBundling hook copies zstd.wasm next to
 * index.mjs, where that `__dirname` points. `nodeModules` would also work but runs
 * `npm install` during synth, which needs the network.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';

/** The repository root: infra/'s parent. Entries, the lock file and node_modules live there. */
export const PROJECT_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** The handler module of function `name`: its source in a checkout, its compiled JavaScript in the installed package (dist/). */
export function functionEntry(name: string): string {
  const source = join(PROJECT_ROOT, 'functions', name, 'handler.ts');
  return existsSync(source) ? source : join(PROJECT_ROOT, 'functions', name, 'handler.js');
}

/** Absolute path of the zstd.wasm that the package's Node build loads. */
export function zstdWasmPath(): string {
  const require = createRequire(join(PROJECT_ROOT, 'package.json'));
  return join(dirname(require.resolve('@bokuweb/zstd-wasm')), 'zstd.wasm');
}

/** Defines the CommonJS globals that bundled CommonJS packages expect, for ESM output. */
export const ESM_BANNER = [
  "import { createRequire as __sluiceCreateRequire } from 'node:module';",
  "import { dirname as __sluiceDirname } from 'node:path';",
  "import { fileURLToPath as __sluiceFileURLToPath } from 'node:url';",
  'const require = __sluiceCreateRequire(import.meta.url);',
  'const __filename = __sluiceFileURLToPath(import.meta.url);',
  'const __dirname = __sluiceDirname(__filename);',
].join(' ');

function shellQuote(path: string): string {
  return `'${path.replaceAll("'", `'\\''`)}'`;
}

/** esbuild options shared by every function. */
export function bundlingOptions(): BundlingOptions {
  const wasm = zstdWasmPath();
  return {
    format: OutputFormat.ESM,
    target: 'node24',
    mainFields: ['module', 'main'],
    minify: true,
    sourceMap: true,
    // Stack traces need the mappings, not the sources; keeps the asset small.
    sourcesContent: false,
    // Bundle the AWS SDK too: the versions in package-lock.json, not whatever the runtime ships.
    bundleAwsSDK: true,
    externalModules: [],
    banner: ESM_BANNER,
    forceDockerBundling: false,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      // Every function gets it: admin does not load zstd today, and 250 KB is cheap insurance.
      afterBundling: (_inputDir: string, outputDir: string) => [`cp ${shellQuote(wasm)} ${shellQuote(join(outputDir, 'zstd.wasm'))}`],
    },
  };
}
