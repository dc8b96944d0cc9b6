/** Progress (with Cancel), errors (one sentence plus action buttons) and the explanation's notes. */
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { h, replaceChildren } from './dom';

/** What the panel is doing: a text, and for a long method how far it got; `cancellable` offers Cancel. */
export interface Activity {
  text: string;
  progress?: { done: number; total: number };
  cancellable?: boolean;
}

export class StatusArea {
  /** Busy indicator: a progress ring (or bar, when the count is known), a short text and Cancel (lives in the header). */
  readonly busy = h('div', { class: 'busy', 'data-testid': 'status', role: 'status', 'aria-live': 'polite' });
  /** Error banner and notes (live above the image). */
  readonly banner = h('div', { class: 'banner-area' });
  private error = h('div', { class: 'error', 'data-testid': 'error', role: 'alert' });
  private notes = h('ul', { class: 'notes', 'aria-label': 'Notes' });
  private busyText = h('span', { class: 'busy-text' });
  private ring = h('vscode-progress-ring', { class: 'busy-ring' });
  private bar = h('vscode-progress-bar', { class: 'busy-bar', 'data-testid': 'progress-bar', 'aria-label': 'Progress' });
  private cancelButton = h('vscode-button', { class: 'busy-cancel', 'data-testid': 'cancel', secondary: true, title: 'Stop computing; the maps shown stay' }, 'Cancel');

  constructor(private readonly onAction: (action: string) => void, onCancel: () => void) {
    this.busy.append(this.ring, this.busyText, this.bar);
    this.banner.append(this.error, this.notes);
    this.cancelButton.addEventListener('click', () => onCancel());
    this.setBusy(undefined);
    this.clearError();
    this.setNotes([]);
  }

  /** undefined = idle. */
  setBusy(message: string | undefined): void {
    this.setActivity(message === undefined ? undefined : { text: message });
  }

  setActivity(activity: Activity | undefined): void {
    const p = activity?.progress;
    this.busy.classList.toggle('idle', activity === undefined);
    this.busy.classList.remove('notice');
    this.ring.hidden = activity === undefined || p !== undefined;
    this.bar.hidden = p === undefined;
    if (p) {
      this.bar.max = Math.max(1, p.total);
      this.bar.value = Math.min(p.done, p.total);
    }
    // In the DOM only when it applies, so an idle status reads empty.
    if (activity?.cancellable) this.busy.append(this.cancelButton);
    else this.cancelButton.remove();
    this.busyText.textContent = activity?.text ?? '';
    // A narrow header cuts the text short: the whole of it on hover.
    this.busy.title = activity?.text ?? '';
  }

  /** A neutral word where progress was (e.g. "Cancelled."): not an error, nothing to act on. */
  setNotice(message: string): void {
    this.setActivity({ text: message });
    this.ring.hidden = true;
    this.busy.classList.add('notice');
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
