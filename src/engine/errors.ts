/**
 * An error the user caused or can fix: a missing file, a bad image, an unknown class.
 * Its message is one sentence that names the file (when there is one) and what is wrong;
 * the CLI prints it as-is and the extension shows it as-is, never with a stack trace.
 */
export class UserError extends Error {
  constructor(message: string, readonly file?: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Control characters (a newline in a name read from a model file) escaped, so a message stays one line. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** Formats `file: what is wrong` consistently, on one line whatever names the file put into it. */
export function fileError(file: string, problem: string): UserError {
  return new UserError(oneLine(`${file}: ${problem}`), file);
}

/** An error's first line, cut to `max` characters: the part of a library's message worth one sentence. */
export function firstLine(err: unknown, max = 300): string {
  return String((err as Error)?.message ?? err).split('\n')[0].slice(0, max);
}

export function describeError(err: unknown): string {
  if (err instanceof UserError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
