import type { TestProject } from 'vitest/node';
import { startEmulators, type Emulators } from '../../local/emulators.ts';

let emulators: Emulators | undefined;

/** One DynamoDB Local and one s3rver for the whole run; each test file gets its own table and bucket. */
export async function setup(project: TestProject): Promise<void> {
  emulators = await startEmulators();
  project.provide('dynamoEndpoint', emulators.dynamoEndpoint);
  project.provide('s3Endpoint', emulators.s3Endpoint);
}

export async function teardown(): Promise<void> {
  await emulators?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
    s3Endpoint: string;
  }
}
