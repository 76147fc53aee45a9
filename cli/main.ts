/**
 * The `sluice` command line: topics, produce, consume and consumer groups against a Sluice
 * API (the local stack by default). Errors print as `ERROR_NAME: message` and exit 1;
 * `--verbose` adds the stack. `main` returns the exit code instead of exiting, so tests can
 * call it in-process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { consumeCommand } from './consume.ts';
import { DEFAULT_URL, nonNegativeInteger } from './context.ts';
import { dlqCommand } from './dlq.ts';
import { formatError } from './format.ts';
import { groupsCommand } from './groups.ts';
import { produceCommand } from './produce.ts';
import { topicsCommand } from './topics.ts';

/** The package's version: package.json is one folder up in a checkout (cli/), two in the built package (dist/cli/). */
function packageVersion(): string {
  const file = ['../package.json', '../../package.json'].map((p) => new URL(p, import.meta.url)).find((url) => existsSync(url));
  return file === undefined ? 'unknown' : (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Produce, consume and manage topics and consumer groups of a Sluice event log')
    .version(packageVersion())
    .addOption(new Option('--url <url>', 'API base URL').env('SLUICE_URL').default(DEFAULT_URL))
    .addOption(new Option('--auth <type>', 'none, or iam to sign requests with SigV4 (AWS default credential chain)').choices(['none', 'iam']).env('SLUICE_AUTH').default('none'))
    .addOption(new Option('--region <region>', 'AWS region for --auth iam (default: from the URL or AWS_REGION)'))
    .addOption(new Option('--retries <n>', 'retries of a failed request (default 10)').argParser(nonNegativeInteger))
    .option('-v, --verbose', 'log each request (method, path, status, ms) and print stack traces with errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text), writeOut: (text) => process.stdout.write(text) });
  topicsCommand(program);
  produceCommand(program);
  consumeCommand(program);
  groupsCommand(program);
  dlqCommand(program);
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }
  return program;
}

/** Runs the CLI with `argv` (as process.argv); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    // Usage errors and --help: commander has already printed what it had to say.
    if (error instanceof CommanderError) return error.exitCode;
    process.stderr.write(formatError(error, program.opts<{ verbose?: boolean }>().verbose === true));
    return 1;
  }
}
