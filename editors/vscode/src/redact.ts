/**
 * Hides secrets in text bound for an output channel: the LSP trace prints every
 * message, including initializationOptions and `qwen.auth` arguments, which carry
 * the API key.
 */

export const REDACTED = '<redacted>';

// Shorter strings could match ordinary text; no real key is this short.
const MIN_SECRET_LENGTH = 8;

export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= MIN_SECRET_LENGTH) {
      out = out.split(secret).join(REDACTED);
      // The trace prints messages as JSON, where some characters are escaped.
      const escaped = JSON.stringify(secret).slice(1, -1);
      if (escaped !== secret) {
        out = out.split(escaped).join(REDACTED);
      }
    }
  }
  return out;
}
