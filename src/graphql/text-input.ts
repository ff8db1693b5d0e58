import {
  type DocumentNode,
  type ExecutionArgs,
  type FragmentDefinitionNode,
  type GraphQLError,
  type GraphQLInputType,
  type GraphQLSchema,
  getArgumentValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { BadUserInputError } from '../errors.js';

/**
 * The contract's rule for text input: every string argument and input field — of any type, at
 * any depth, literal or variable, search included — with a control character (U+0000–U+001F,
 * U+007F) is `BAD_USER_INPUT`, checked before anything executes; free-text fields may also hold
 * tab, line feed and carriage return. PostgreSQL refuses U+0000 in text, and its refusal quotes
 * the statement with its bound values; stopped here, such input never reaches a statement.
 *
 * One check at the edge rather than one per field: a field added tomorrow is covered without
 * anyone remembering. Mark a free-text argument or input field with {@link freeText}.
 */

/** The extension key that marks an argument or input field as free text. */
export const FREE_TEXT_EXTENSION = 'freeText';

/**
 * Options to spread into a free-text argument or input field (`notes`, a review's `note`):
 * `t.string({ ...freeText, description: … })`. Tab, line feed and carriage return are allowed there.
 */
export const freeText = { extensions: { [FREE_TEXT_EXTENSION]: true } } as const;

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above, less tab, line feed and carriage return
const CONTROL_IN_FREE_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Whether `value` holds a character the rule refuses (for services that check text themselves). */
export function hasControlCharacters(value: string, allowLineBreaks = false): boolean {
  return (allowLineBreaks ? CONTROL_IN_FREE_TEXT : CONTROL).test(value);
}

/** The Envelop plugin: refuses the whole operation, before it executes or subscribes. */
export function useTextInputRule(): Plugin {
  return {
    onExecute: ({ args, setResultAndStopExecution }) => {
      const refusal = findControlCharacters(args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const refusal = findControlCharacters(args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
  };
}

/**
 * The first argument or input field of the operation `args` will run that holds a refused
 * character, as the error to answer with; null when there is none. Values are read as the
 * resolvers will get them (variables coerced, defaults applied); input graphql-js itself will
 * refuse (a variable of the wrong type) is left to it.
 */
export function findControlCharacters(
  args: Pick<ExecutionArgs, 'schema' | 'document' | 'operationName' | 'variableValues'>,
): GraphQLError | null {
  const { schema, document } = args;
  const operation = getOperationAST(document, args.operationName);
  const root = operation ? schema.getRootType(operation.operation) : undefined;
  if (!operation || !root) return null;
  const variables = getVariableValues(schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
  if (!variables.coerced) return null;
  const fragments = fragmentsOf(document);
  const seen = new Set<string>();
  let refusal: GraphQLError | null = null;

  const walk = (type: ReturnType<GraphQLSchema['getType']>, selections: SelectionSetNode): void => {
    for (const selection of selections.selections) {
      if (refusal) return;
      if (selection.kind === Kind.FIELD) {
        const field = isObjectType(type) || isInterfaceType(type) ? type.getFields()[selection.name.value] : undefined;
        // `__typename` and introspection: nothing of ours reads their arguments.
        if (!field) continue;
        if (field.args.length > 0) {
          let values: Record<string, unknown>;
          try {
            values = getArgumentValues(field, selection, variables.coerced);
          } catch {
            continue; // graphql-js refuses it with its own error when it executes
          }
          for (const arg of field.args) {
            refusal ??= check(arg.type, values[arg.name], arg.name, isFreeText(arg.extensions));
          }
        }
        if (selection.selectionSet) walk(getNamedType(field.type), selection.selectionSet);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        if (isCompositeType(on)) walk(on, selection.selectionSet);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || seen.has(fragment.name.value)) continue;
        seen.add(fragment.name.value);
        walk(schema.getType(fragment.typeCondition.name.value), fragment.selectionSet);
      }
    }
  };
  walk(root, operation.selectionSet);
  return refusal;
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

function isFreeText(extensions: Readonly<Record<string, unknown>> | null | undefined): boolean {
  return extensions?.[FREE_TEXT_EXTENSION] === true;
}

/** Checks one coerced value against its input type; `path` names it for the client (never its value). */
function check(type: GraphQLInputType, value: unknown, path: string, free: boolean): GraphQLError | null {
  if (value === null || value === undefined) return null;
  if (isNonNullType(type)) return check(type.ofType, value, path, free);
  if (isListType(type)) {
    const items = Array.isArray(value) ? value : [value];
    for (const [i, item] of items.entries()) {
      const refusal = check(type.ofType, item, `${path}[${i}]`, free);
      if (refusal) return refusal;
    }
    return null;
  }
  if (isInputObjectType(type)) {
    const fields = type.getFields();
    for (const [name, field] of Object.entries(fields)) {
      const refusal = check(
        field.type,
        (value as Record<string, unknown>)[name],
        `${path}.${name}`,
        isFreeText(field.extensions),
      );
      if (refusal) return refusal;
    }
    return null;
  }
  if (isEnumType(type)) return null;
  // String, ID and custom scalars alike: JSON-like ones (`_Any` representations) hold strings deep down.
  return holdsControl(value, free) ? refused(path, free) : null;
}

function holdsControl(value: unknown, free: boolean): boolean {
  if (typeof value === 'string') return hasControlCharacters(value, free);
  if (Array.isArray(value)) return value.some((item) => holdsControl(item, free));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.entries(value).some(([key, item]) => hasControlCharacters(key) || holdsControl(item, free));
  }
  return false;
}

function refused(path: string, free: boolean): GraphQLError {
  const what = free ? 'control characters other than tab, line feed and carriage return' : 'control characters';
  return new BadUserInputError(`${path} must not contain ${what}`, path);
}
