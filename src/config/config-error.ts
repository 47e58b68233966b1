/** A setting's bad value: Ballast stops with its message as one line. */
export class ConfigError extends Error {}
