/** Progress, errors (one sentence plus action buttons) and the explanation's notes. */
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { h, replaceChildren } from './dom';

export class StatusArea {
  /** Busy indicator: a progress ring and a short text (lives in the header). */
  readonly busy = h('div', { class: 'busy', 'data-testid': 'status', role: 'status', 'aria-live': 'polite' });
  /** Error banner and notes (live above the image). */
  readonly banner = h('div', { class: 'banner-area' });
  private error = h('div', { class: 'error', 'data-testid': 'error', role: 'alert' });
  private notes = h('ul', { class: 'notes', 'aria-label': 'Notes' });
  private busyText = h('span', { class: 'busy-text' });
  private ring = h('vscode-progress-ring', { class: 'busy-ring' });

  constructor(private readonly onAction: (action: string) => void) {
    this.busy.append(this.ring, this.busyText);
    this.banner.append(this.error, this.notes);
    this.setBusy(undefined);
    this.clearError();
    this.setNotes([]);
  }

  /** undefined = idle. */
  setBusy(message: string | undefined): void {
    this.busy.classList.toggle('idle', message === undefined);
    this.ring.hidden = message === undefined;
    this.busyText.textContent = message ?? '';
  }

  showError(message: string, actions: string[] = []): void {
    const buttons = actions.map((action, i) => {
      const b = h('vscode-button', { secondary: i > 0, 'data-action': action }, action);
      b.addEventListener('click', () => this.onAction(action));
      return b;
    });
    replaceChildren(
      this.error,
      h('span', { class: 'error-icon', 'aria-hidden': 'true' }, '!'),
      h('span', { class: 'error-message' }, message),
      buttons.length ? h('span', { class: 'error-actions' }, ...buttons) : null,
    );
    this.error.hidden = false;
  }

  clearError(): void {
    this.error.hidden = true;
    this.error.replaceChildren();
  }

  setNotes(notes: string[]): void {
    const unique = [...new Set(notes.filter((n) => n && n.trim()))];
    replaceChildren(this.notes, ...unique.map((n) => h('li', {}, n)));
    this.notes.hidden = unique.length === 0;
  }
}
