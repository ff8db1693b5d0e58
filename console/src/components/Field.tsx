/**
 * A labelled input with its error below it, tied together for screen readers (`aria-invalid`,
 * `aria-describedby`). The error paragraph is always there, so its appearance is announced.
 */
export function Field(props: {
  id: string;
  label: string;
  value: string;
  onValue: (value: string) => void;
  error?: string | undefined;
  hint?: string | undefined;
  type?: 'text' | 'date';
  autocomplete?: string;
}) {
  const { id, label, value, onValue, error, hint, type = 'text' } = props;
  const describedBy = [hint ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' ');
  const common = {
    id,
    name: id,
    value,
    autocomplete: props.autocomplete,
    'aria-invalid': error ? ('true' as const) : undefined,
    'aria-describedby': describedBy,
    onInput: (e: { currentTarget: HTMLInputElement }) => onValue(e.currentTarget.value),
  };
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {/* Two literal elements: Preact types each input type's attributes apart. */}
      {type === 'date' ? <input type="date" {...common} /> : <input type="text" {...common} />}
      {hint && (
        <p id={`${id}-hint`} class="help">
          {hint}
        </p>
      )}
      <p id={`${id}-error`} class="field-error">
        {error ?? ''}
      </p>
    </div>
  );
}
