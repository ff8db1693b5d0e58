import { printSubgraphSchema } from '@apollo/subgraph';
import { MapperKind, mapSchema } from '@graphql-tools/utils';
import {
  type ASTNode,
  GraphQLEnumType,
  type GraphQLFieldResolver,
  GraphQLInputObjectType,
  type GraphQLInputType,
  GraphQLList,
  GraphQLNonNull,
  type GraphQLOutputType,
  GraphQLSchema,
  type GraphQLUnionType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  lexicographicSortSchema,
  visit,
} from 'graphql';
import { BadUserInputError } from '../errors.js';
import { builder } from './builder.js';
// Type modules register their types and fields with the builder when imported.
import '../modules/clinician/clinician.graphql.js';
import '../modules/patient/patient.graphql.js';
import '../modules/assessment/assessment.graphql.js';
import '../modules/diagnosis/diagnosis.graphql.js';

let schema: GraphQLSchema | undefined;
let subgraph: GraphQLSchema | undefined;

/** The executable schema (built once per process), served at `/graphql`. */
export function buildSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: false });
  return schema;
}

/**
 * The same types and resolvers as an Apollo Federation v2 subgraph, served at `/subgraph`: the
 * entities `Patient`, `Diagnosis` and `Clinician` (`@key(fields: "id")`) plus `_service` and
 * `_entities`, whose reference resolvers apply the same care-team rule as the plain fields.
 */
export function buildSubgraphSchema(): GraphQLSchema {
  subgraph ??= limitRepresentations(separateInputEnums(builder.toSubGraphSchema({ sortSchema: false })));
  return subgraph;
}

/** The suffix of the subgraph's input copy of an enum that is also an output (`Sex` → `SexInput`). */
export const INPUT_ENUM_SUFFIX = 'Input';

/**
 * In the subgraph, an enum that is both an input and an output (`Sex`, `Consciousness`,
 * `ReviewDecision`) keeps its name as an output and gets a copy with the same values,
 * `<Name>Input`, for its input positions. Composition merges an output-only enum with another
 * subgraph's enum of the same name as the union of their values, but an enum used in both
 * positions must be identical in every subgraph (ENUM_VALUE_MISMATCH): a hospital's own `Sex` with
 * fewer values would otherwise break its supergraph. `/graphql` is untouched — the contract names
 * `Sex` as both — so the split lives here, after Pothos built the schema, and `_service { sdl }`
 * is printed again from the result.
 */
function separateInputEnums(schema: GraphQLSchema): GraphQLSchema {
  const enums = Object.values(schema.getTypeMap()).filter(isEnumType);
  const inInputs = new Set<string>();
  const inOutputs = new Set<string>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) inInputs.add(namedTypeName(field.type));
    } else if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        inOutputs.add(namedTypeName(field.type));
        for (const arg of field.args) inInputs.add(namedTypeName(arg.type));
      }
    }
  }
  const split = enums.filter((e) => inInputs.has(e.name) && inOutputs.has(e.name));
  if (split.length === 0) return schema;
  const copies = new Map(
    split.map((e) => {
      const config = e.toConfig();
      const description = `\`${e.name}\` as an input, with the same values. ${config.description ?? ''}`.trim();
      const copy = new GraphQLEnumType({
        ...config,
        name: `${e.name}${INPUT_ENUM_SUFFIX}`,
        description,
        // The original's node, renamed, so the copy prints its values in their declared order.
        astNode: config.astNode && {
          ...config.astNode,
          name: { ...config.astNode.name, value: `${e.name}${INPUT_ENUM_SUFFIX}` },
          description: { kind: Kind.STRING, value: description, block: true },
        },
      });
      return [e.name, copy] as const;
    }),
  );
  const withCopies = new GraphQLSchema({
    ...schema.toConfig(),
    types: [...schema.toConfig().types, ...copies.values()],
  });
  const retype = (type: GraphQLInputType): GraphQLInputType => {
    if (isNonNullType(type)) return new GraphQLNonNull(retype(type.ofType));
    if (isListType(type)) return new GraphQLList(retype(type.ofType));
    return (isEnumType(type) && copies.get(type.name)) || type;
  };
  // The SDL printer prints a type from its AST node when it has one (Pothos gives every type one,
  // for its directives, and mapSchema rebuilds it from the fields' nodes), so a retyped field's
  // node is retyped too.
  const retypeAst = <T extends ASTNode>(node: T | null | undefined): T | undefined =>
    node
      ? visit(node, {
          NamedType: (named) => {
            const copy = copies.get(named.name.value);
            return copy ? { ...named, name: { ...named.name, value: copy.name } } : undefined;
          },
        })
      : undefined;
  // Only input objects hold these enums today; an argument of one would need its field's AST node
  // rewritten too, so it fails loudly here rather than print an SDL that says something else.
  for (const type of Object.values(schema.getTypeMap())) {
    if (!(isObjectType(type) || isInterfaceType(type)) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const arg = field.args.find((a) => copies.has(namedTypeName(a.type)));
      if (arg) throw new Error(`${type.name}.${field.name}(${arg.name}:) takes an enum that is also an output`);
    }
  }
  const mapped = mapSchema(withCopies, {
    // mapSchema rebuilds an input object's AST node from its fields in their current (sorted)
    // order: put them back in the order declared in the original's node, which the SDL prints.
    [MapperKind.INPUT_OBJECT_TYPE]: (type) => {
      const { fields, ...config } = type.toConfig();
      const original = schema.getType(type.name);
      const declared = (isInputObjectType(original) && original.astNode?.fields?.map((f) => f.name.value)) || [];
      const order = (name: string) => (declared.includes(name) ? declared.indexOf(name) : declared.length);
      const entries = Object.entries(fields).sort(([a], [b]) => order(a) - order(b));
      return new GraphQLInputObjectType({ ...config, fields: Object.fromEntries(entries) });
    },
    [MapperKind.INPUT_OBJECT_FIELD]: (field) => {
      const type = retype(field.type);
      return String(type) === String(field.type) ? undefined : { ...field, type, astNode: retypeAst(field.astNode) };
    },
  });
  const sorted = lexicographicSortSchema(mapped);
  const service = sorted.getQueryType()?.getFields()._service;
  if (service) {
    const sdl = printSubgraphSchema(sorted);
    service.resolve = () => ({ sdl });
  }
  return sorted;
}

function namedTypeName(type: GraphQLInputType | GraphQLOutputType): string {
  let t: unknown = type;
  while (isNonNullType(t) || isListType(t)) t = t.ofType;
  return (t as { name: string }).name;
}

/**
 * At most this many representations per `_entities` call. A gateway asks for the entities one
 * operation touched (a page is at most 100 patients); without a cap one request could ask for
 * any number of records, past the alias and cost limits that bound the plain API.
 */
export const MAX_ENTITY_REPRESENTATIONS = 500;

function limitRepresentations(schema: GraphQLSchema): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()._entities;
  const resolve = field?.resolve as GraphQLFieldResolver<unknown, unknown, { representations: unknown[] }> | undefined;
  if (field && resolve) {
    const entityTypes = new Set(
      (schema.getType('_Entity') as GraphQLUnionType | undefined)?.getTypes().map((type) => type.name) ?? [],
    );
    field.resolve = (source, args, context, info) => {
      if (args.representations.length > MAX_ENTITY_REPRESENTATIONS) {
        throw new BadUserInputError(
          `_entities takes at most ${MAX_ENTITY_REPRESENTATIONS} representations`,
          'representations',
        );
      }
      // A representation of a type this subgraph does not own is the caller's mistake: refused
      // here, it is BAD_USER_INPUT, where the federation library's own failure was INTERNAL.
      for (const [i, representation] of args.representations.entries()) {
        const typename = (representation as { __typename?: unknown } | null)?.__typename;
        if (typeof typename !== 'string' || !entityTypes.has(typename)) {
          throw new BadUserInputError(
            `representations[${i}] must have a __typename of ${[...entityTypes].join(', ')}`,
            `representations.${i}.__typename`,
          );
        }
      }
      return resolve(source, args, context, info);
    };
  }
  return schema;
}
