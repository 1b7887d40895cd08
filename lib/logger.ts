import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * The one pino logger of a process: JSON lines on stdout, tokens and
 * credentials redacted wherever they appear in logged objects.
 */
export function createLogger(service: string, level = "info", destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name: service,
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        "authorization",
        "*.authorization",
        "headers.authorization",
        "metadata.authorization",
        "token",
        "*.token",
        "accessKey",
        "secretKey",
        "*.secretKey",
        "clientSecret",
        "*.clientSecret",
        "databaseUrl",
        "*.databaseUrl",
      ],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
