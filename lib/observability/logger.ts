/**
 * The functions' structured logger: Powertools for AWS Lambda's JSON lines, with the
 * function name and the API Gateway request id. The level comes from SLUICE_LOG_LEVEL
 * (or Powertools' own POWERTOOLS_LOG_LEVEL), INFO by default.
 */
import { Logger } from '@aws-lambda-powertools/logger';

let logger: Logger | undefined;

/** The shared logger, created on first use so the environment can be set before. */
export function log(): Logger {
  const level = process.env.SLUICE_LOG_LEVEL?.trim().toUpperCase();
  logger ??= new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME?.trim() || 'sluice', ...(level === undefined || level === '' ? {} : { logLevel: level as 'INFO' }) });
  return logger;
}
