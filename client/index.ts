/**
 * The Clinical Copilot typed client: every operation the README walks through and the clinician
 * console uses, as typed documents (`TypedDocumentNode`) for any GraphQL client that takes them —
 * urql, Apollo Client, graphql-request, or a plain `fetch` with `print(document)` — plus the few
 * rules every client needs (the contract's observation ranges, how to merge a diagnosis's live
 * updates). The documents are written in `client/operations/*.graphql` and generated into
 * `client/generated/` by `npm run generate`; a unit test fails when they are stale.
 */
export * from './diagnosis.js';
export * from './generated/graphql.js';
export * from './observations.js';
