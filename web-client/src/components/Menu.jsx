import { useEffect, useRef, useState } from 'preact/hooks';
import { useDismiss } from '../hooks.js';

/**
 * A button that opens a menu (WAI-ARIA menu button pattern): arrow keys move, Enter/Space
 * choose, Escape closes and returns focus to the button.
 * items: [{key, label, hint?, disabled?, onSelect, testid?, description?}]
 */
export function Menu({ label, items, buttonClass = 'btn', buttonProps = {}, menuLabel, align = 'left', testid, header }) {
  const [open, setOpen] = useState(false);
  const rootRef = useRef(null);
  const btnRef = useRef(null);
  const listRef = useRef(null);
  useDismiss(open, setOpen, rootRef, btnRef);

  useEffect(() => {
    if (open && listRef.current) {
      const first = listRef.current.querySelector('[role="menuitem"]:not([aria-disabled="true"])');
      if (first) first.focus();
    }
  }, [open]);

  const onKeyDown = (e) => {
    const els = [...listRef.current.querySelectorAll('[role="menuitem"]')];
    const idx = els.indexOf(document.activeElement);
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      els[(idx + 1) % els.length].focus();
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      els[(idx - 1 + els.length) % els.length].focus();
    } else if (e.key === 'Home') {
      e.preventDefault();
      els[0].focus();
    } else if (e.key === 'End') {
      e.preventDefault();
      els[els.length - 1].focus();
    } else if (e.key === 'Tab') {
      setOpen(false);
    }
  };

  const choose = (item) => {
    if (item.disabled) return;
    setOpen(false);
    if (btnRef.current) btnRef.current.focus();
    item.onSelect();
  };

  return (
    <div class="menu-root" ref={rootRef}>
      <button
        ref={btnRef}
        type="button"
        class={buttonClass}
        aria-haspopup="menu"
        aria-expanded={open ? 'true' : 'false'}
        onClick={() => setOpen(!open)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' && !open) {
            e.preventDefault();
            setOpen(true);
          }
        }}
        {...buttonProps}
      >
        {label}
      </button>
      {open ? (
        <div class={`menu menu-${align}`} role="menu" aria-label={menuLabel} ref={listRef} onKeyDown={onKeyDown} data-testid={testid}>
          {header ? <div class="menu-header" role="presentation">{header}</div> : null}
          {items.map((item) => (
            <button
              key={item.key}
              type="button"
              role="menuitem"
              class="menu-item"
              tabIndex={-1}
              aria-disabled={item.disabled ? 'true' : undefined}
              data-testid={item.testid}
              title={item.description}
              onClick={() => choose(item)}
            >
              <span class="menu-item-label">{item.label}</span>
              {item.hint ? <span class="menu-item-hint">{item.hint}</span> : null}
            </button>
          ))}
        </div>
      ) : null}
    </div>
  );
}
