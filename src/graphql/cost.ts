import {
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type GraphQLType,
  getNamedType,
  getNullableType,
  getOperationAST,
  isCompositeType,
  isListType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { DEFAULT_PAGE_SIZE } from '../lib/pagination.js';

/**
 * How many items a list counts for when nothing in the operation says how long it is
 * (`careTeam`, `differentials`, `factors`): a generous guess at what such lists hold.
 */
export const ASSUMED_LIST_SIZE = 10;

/** Arguments that say how long a field's list (or its connection's page) is. */
const SIZE_ARGUMENTS = ['first', 'last'] as const;
type SizeArgument = (typeof SIZE_ARGUMENTS)[number];

/**
 * The number of objects (values of an object type) an operation could return, with the list
 * sizes it will really run with; it may be `Infinity`.
 *
 * Every field of an object type counts one object per value it may produce: a list counts its
 * size times (one + what each item selects), an aliased field counts once per alias, a fragment
 * once per spread. List sizes come from the arguments as execution will see them:
 * - a connection's `first` (a literal, a variable's value, the variable's default, else the
 *   field's default page size {@link DEFAULT_PAGE_SIZE} — what `pageSize()` will fetch) sizes
 *   its `edges`/`nodes`; a list field's own `first` or `last` (`assessmentHistory(last:)`) sizes
 *   that list the same way;
 * - `_entities(representations:)` counts its representations (literal or variable);
 * - any other list counts {@link ASSUMED_LIST_SIZE}.
 * Scalars cost nothing (the token limit bounds how many a document can name); so do
 * introspection fields, which read the in-memory schema and are off in production. `@skip` and
 * `@include` are ignored: the estimate is of what the operation *could* return. Fragments are
 * priced once each, so nesting them cannot make the estimate itself expensive.
 */
export function estimateCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
): number {
  const known = PRICED.get(schema)
    ?.get(document)
    ?.get(operationName ?? '');
  if (known !== undefined) return known;
  const operation = getOperationAST(document, operationName);
  const root = operation && schema.getRootType(operation.operation);
  if (!operation || !root) return 0;
  const estimator = new Estimator(schema, document, operation, variables ?? {});
  const cost = estimator.selectionSet(operation.selectionSet, root);
  // An estimate no variable went into is the document's for good: remember it (parsed documents
  // are cached and shared, so the next request with the same text is priced by one lookup).
  if (!estimator.readVariables) remember(schema, document, operationName ?? '', cost);
  return cost;
}

/** Estimates that read no variable, by schema, document and operation name. */
const PRICED = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, Map<string, number>>>();

function remember(schema: GraphQLSchema, document: DocumentNode, operationName: string, cost: number): void {
  let bySchema = PRICED.get(schema);
  if (!bySchema) {
    bySchema = new WeakMap();
    PRICED.set(schema, bySchema);
  }
  let byDocument = bySchema.get(document);
  if (!byDocument) {
    byDocument = new Map();
    bySchema.set(document, byDocument);
  }
  byDocument.set(operationName, cost);
}

class Estimator {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  /** Each fragment's price, by name and the page size it inherits. */
  private readonly priced = new Map<string, number>();
  private readonly pricing = new Set<string>();
  private readonly variableDefaults = new Map<string, ValueNode>();
  /** Whether any variable's value (or default) went into the estimate. */
  readVariables = false;

  constructor(
    private readonly schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    private readonly variables: Readonly<Record<string, unknown>>,
  ) {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) this.fragments.set(definition.name.value, definition);
    }
    for (const definition of operation.variableDefinitions ?? []) {
      if (definition.defaultValue) this.variableDefaults.set(definition.variable.name.value, definition.defaultValue);
    }
  }

  /**
   * Objects below `selectionSet` on `parent`. `pageSize` is the `first` of the connection field
   * this selection belongs to, which sizes its lists (`edges`, `nodes`).
   */
  selectionSet(selectionSet: SelectionSetNode, parent: GraphQLCompositeType, pageSize?: number): number {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        total += this.field(selection, parent, pageSize);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? this.schema.getType(selection.typeCondition.name.value) : parent;
        if (type && isCompositeType(type)) total += this.selectionSet(selection.selectionSet, type, pageSize);
      } else {
        total += this.fragment(selection.name.value, pageSize);
      }
    }
    return total;
  }

  private fragment(name: string, pageSize: number | undefined): number {
    const key = `${name}|${pageSize ?? ''}`;
    const known = this.priced.get(key);
    if (known !== undefined) return known;
    const fragment = this.fragments.get(name);
    // A cycle is a validation error; it must not loop here (the estimate prices refusals too).
    if (!fragment || this.pricing.has(key)) return 0;
    const type = this.schema.getType(fragment.typeCondition.name.value);
    if (!type || !isCompositeType(type)) return 0;
    this.pricing.add(key);
    const price = this.selectionSet(fragment.selectionSet, type, pageSize);
    this.pricing.delete(key);
    this.priced.set(key, price);
    return price;
  }

  private field(node: FieldNode, parent: GraphQLCompositeType, pageSize: number | undefined): number {
    if (node.name.value.startsWith('__')) return 0;
    const definition = 'getFields' in parent ? parent.getFields()[node.name.value] : undefined;
    if (!definition) return 0;
    const named = getNamedType(definition.type);
    if (!isCompositeType(named)) return 0;
    const sizedBy = SIZE_ARGUMENTS.find((name) => definition.args.some((a) => a.name === name));
    const first = sizedBy ? this.size(node, definition, sizedBy) : undefined;
    const representations = definition.args.some((a) => a.name === 'representations')
      ? this.listLength(argument(node, 'representations')?.value)
      : undefined;
    // The first list level is sized by the operation; lists inside lists (none today) by the guess.
    let multiplier = 1;
    let type: GraphQLType = getNullableType(definition.type);
    let outermost = true;
    while (isListType(type)) {
      multiplier *= outermost ? (representations ?? first ?? pageSize ?? ASSUMED_LIST_SIZE) : ASSUMED_LIST_SIZE;
      outermost = false;
      type = getNullableType(type.ofType);
    }
    const isList = !outermost;
    const below = node.selectionSet ? this.selectionSet(node.selectionSet, named, isList ? undefined : first) : 0;
    return multiplier * (1 + below);
  }

  /**
   * The list size a `first` or `last` argument will run with (see `pageSize()` in
   * lib/pagination.ts and `historyLength()` in the assessment service).
   */
  private size(node: FieldNode, definition: GraphQLField<unknown, unknown>, name: SizeArgument): number {
    const value = this.value(argument(node, name)?.value);
    if (value === undefined || value === null) {
      const fallback = definition.args.find((a) => a.name === name)?.defaultValue;
      return typeof fallback === 'number' ? fallback : DEFAULT_PAGE_SIZE;
    }
    // Not a number: variable coercion refuses it before anything runs; price it as the default.
    return typeof value === 'number' && Number.isFinite(value) ? Math.max(0, value) : DEFAULT_PAGE_SIZE;
  }

  private listLength(node: ValueNode | undefined): number {
    const value = this.value(node);
    if (Array.isArray(value)) return value.length;
    return value === undefined || value === null ? 0 : 1; // A single value is coerced to a list of one.
  }

  /** An argument's value as execution will see it: a literal, a variable's value, or its default. */
  private value(value: ValueNode | undefined): unknown {
    if (!value) return undefined;
    switch (value.kind) {
      case Kind.VARIABLE: {
        this.readVariables = true;
        const name = value.name.value;
        if (Object.hasOwn(this.variables, name)) return this.variables[name];
        const fallback = this.variableDefaults.get(name);
        return fallback ? this.value(fallback) : undefined;
      }
      case Kind.INT:
      case Kind.FLOAT:
        return Number(value.value);
      case Kind.LIST:
        return value.values.map(() => true);
      case Kind.NULL:
        return null;
      default:
        return true;
    }
  }
}

function argument(node: FieldNode, name: string): ArgumentNode | undefined {
  return node.arguments?.find((a) => a.name.value === name);
}
