import { useEffect, useRef, useState } from 'preact/hooks';
import { getState, subscribe } from './store.js';

/** Re-render when the store changes; returns the whole state. */
export function useStore() {
  const [, force] = useState(0);
  useEffect(() => {
    const unsubscribe = subscribe(() => force((n) => n + 1));
    // Effects run after the first paint: a change made in between (a fast 401 from
    // /api/bootstrap, say) notified nobody, so render once more with the current state.
    force((n) => n + 1);
    return unsubscribe;
  }, []);
  return getState();
}

/** Close a popover on outside click or Escape; focus returns to the trigger. */
export function useDismiss(open, setOpen, rootRef, triggerRef) {
  useEffect(() => {
    if (!open) return undefined;
    const onDown = (e) => {
      if (rootRef.current && !rootRef.current.contains(e.target)) setOpen(false);
    };
    const onKey = (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        setOpen(false);
        if (triggerRef && triggerRef.current) triggerRef.current.focus();
      }
    };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey, true);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey, true);
    };
  }, [open]);
}

export function useLatest(value) {
  const ref = useRef(value);
  ref.current = value;
  return ref;
}
