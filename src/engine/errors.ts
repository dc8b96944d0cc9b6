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

/** Formats `file: what is wrong` consistently. */
export function fileError(file: string, problem: string): UserError {
  return new UserError(`${file}: ${problem}`, file);
}

export function describeError(err: unknown): string {
  if (err instanceof UserError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
