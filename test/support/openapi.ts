import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';

/** docs/openapi.yaml, parsed. */
export const openapi = parse(readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components: { schemas: { Error: { properties: { error: { enum: string[] } } } } };
};

const ajv = new Ajv2020.default({ strict: false, allErrors: true });
ajv.addSchema(openapi as object, 'openapi');

function pointer(...parts: string[]): string {
  return parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
}

/**
 * Validates a JSON response body against the schema the document gives for
 * (path template, method, status), falling back to `default`. Returns the errors, if any.
 */
export function responseErrors(path: string, method: string, status: number, body: unknown): string[] {
  const operation = openapi.paths[path]?.[method.toLowerCase()];
  if (operation === undefined) return [`${method} ${path} is not in docs/openapi.yaml`];
  const key = String(status) in operation.responses ? String(status) : 'default';
  if (status === 204) return body === undefined ? [] : ['204 must have no body'];
  let ref = `openapi#/${pointer('paths', path, method.toLowerCase(), 'responses', key)}`;
  const response = operation.responses[key] as { $ref?: string } | undefined;
  if (response === undefined) return [`no response ${key} for ${method} ${path}`];
  if (response.$ref !== undefined) ref = `openapi${response.$ref}`;
  const validate = ajv.getSchema(`${ref}/content/application~1json/schema`);
  if (validate === undefined) return [`no JSON schema at ${ref}`];
  return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}
