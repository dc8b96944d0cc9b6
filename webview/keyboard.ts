/**
 * The panel's class keys: 1–5 pick the top-5 chips, [ and ] step through the ranking (CLASS_KEYS).
 * They are ignored while the user types in a field (the class search, an option's input, a select's
 * filter), so typing "3" there stays typing.
 */
import { CLASS_KEYS } from './classPicker';

export interface ClassKeyHandlers {
  /** 0 = the top prediction. */
  pickRank(rank: number): void;
  /** -1 = previous, +1 = next in the ranking. */
  step(delta: number): void;
}

/** Whether a key press goes to something that takes text (looking inside web components' shadow roots). */
export function isTyping(ev: KeyboardEvent): boolean {
  const target = (ev.composedPath?.()[0] ?? ev.target) as Element | null;
  if (!target || !(target instanceof Element)) return false;
  if (target instanceof HTMLInputElement) return !['checkbox', 'radio', 'range', 'button', 'color'].includes(target.type);
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || (target as HTMLElement).isContentEditable === true) return true;
  // A web component's select (the colormap, the clip) has typeahead of its own.
  return ev.composedPath().some((e) => e instanceof Element && /^VSCODE-(SINGLE-SELECT|MULTI-SELECT|TEXTFIELD|TEXTAREA)$/.test(e.tagName));
}

/** Listens on `root` (the document) for the class keys; returns a function that stops listening. */
export function installClassKeys(root: Document, on: ClassKeyHandlers): () => void {
  const listener = (ev: KeyboardEvent) => {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || isTyping(ev)) return;
    const rank = (CLASS_KEYS.ranks as readonly string[]).indexOf(ev.key);
    if (rank >= 0) on.pickRank(rank);
    else if (ev.key === CLASS_KEYS.previous) on.step(-1);
    else if (ev.key === CLASS_KEYS.next) on.step(1);
    else return;
    ev.preventDefault();
  };
  root.addEventListener('keydown', listener);
  return () => root.removeEventListener('keydown', listener);
}
