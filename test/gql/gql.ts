/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "query AssessmentFhir($patientId: ID!, $model: RiskModel) {\n  assessment(patientId: $patientId, model: $model) {\n    model\n    fhir\n  }\n}\n\nquery PatientAssessments($first: Int) {\n  patients(first: $first) {\n    edges {\n      node {\n        id\n        assessment {\n          score\n          riskLevel\n          source\n        }\n      }\n    }\n  }\n}\n\nquery PatientsAssessmentHistory($first: Int, $model: RiskModel!, $last: Int) {\n  patients(first: $first) {\n    edges {\n      node {\n        id\n        assessmentHistory(model: $model, last: $last) {\n          observationId\n          score\n          source\n        }\n      }\n    }\n  }\n}": typeof types.AssessmentFhirDocument,
    "query DiagnosisFhir($id: ID!) {\n  diagnosis(id: $id) {\n    id\n    reportStatus\n    fhir\n  }\n}\n\nquery PatientDiagnosisList($id: ID!, $first: Int) {\n  patient(id: $id) {\n    id\n    diagnoses(first: $first) {\n      edges {\n        node {\n          id\n          status\n          version\n        }\n      }\n    }\n  }\n}": typeof types.DiagnosisFhirDocument,
    "query PatientObservations($id: ID!, $first: Int, $after: String) {\n  patient(id: $id) {\n    id\n    observations(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          recordedAt\n          recordedById\n          heartRate\n          spo2\n          consciousness\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n}": typeof types.PatientObservationsDocument,
};
const documents: Documents = {
    "query AssessmentFhir($patientId: ID!, $model: RiskModel) {\n  assessment(patientId: $patientId, model: $model) {\n    model\n    fhir\n  }\n}\n\nquery PatientAssessments($first: Int) {\n  patients(first: $first) {\n    edges {\n      node {\n        id\n        assessment {\n          score\n          riskLevel\n          source\n        }\n      }\n    }\n  }\n}\n\nquery PatientsAssessmentHistory($first: Int, $model: RiskModel!, $last: Int) {\n  patients(first: $first) {\n    edges {\n      node {\n        id\n        assessmentHistory(model: $model, last: $last) {\n          observationId\n          score\n          source\n        }\n      }\n    }\n  }\n}": types.AssessmentFhirDocument,
    "query DiagnosisFhir($id: ID!) {\n  diagnosis(id: $id) {\n    id\n    reportStatus\n    fhir\n  }\n}\n\nquery PatientDiagnosisList($id: ID!, $first: Int) {\n  patient(id: $id) {\n    id\n    diagnoses(first: $first) {\n      edges {\n        node {\n          id\n          status\n          version\n        }\n      }\n    }\n  }\n}": types.DiagnosisFhirDocument,
    "query PatientObservations($id: ID!, $first: Int, $after: String) {\n  patient(id: $id) {\n    id\n    observations(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          recordedAt\n          recordedById\n          heartRate\n          spo2\n          consciousness\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n}": types.PatientObservationsDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query AssessmentFhir($patientId: ID!, $model: RiskModel) {\n  assessment(patientId: $patientId, model: $model) {\n    model\n    fhir\n  }\n}\n\nquery PatientAssessments($first: Int) {\n  patients(first: $first) {\n    edges {\n      node {\n        id\n        assessment {\n          score\n          riskLevel\n          source\n        }\n      }\n    }\n  }\n}\n\nquery PatientsAssessmentHistory($first: Int, $model: RiskModel!, $last: Int) {\n  patients(first: $first) {\n    edges {\n      node {\n        id\n        assessmentHistory(model: $model, last: $last) {\n          observationId\n          score\n          source\n        }\n      }\n    }\n  }\n}"): (typeof documents)["query AssessmentFhir($patientId: ID!, $model: RiskModel) {\n  assessment(patientId: $patientId, model: $model) {\n    model\n    fhir\n  }\n}\n\nquery PatientAssessments($first: Int) {\n  patients(first: $first) {\n    edges {\n      node {\n        id\n        assessment {\n          score\n          riskLevel\n          source\n        }\n      }\n    }\n  }\n}\n\nquery PatientsAssessmentHistory($first: Int, $model: RiskModel!, $last: Int) {\n  patients(first: $first) {\n    edges {\n      node {\n        id\n        assessmentHistory(model: $model, last: $last) {\n          observationId\n          score\n          source\n        }\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query DiagnosisFhir($id: ID!) {\n  diagnosis(id: $id) {\n    id\n    reportStatus\n    fhir\n  }\n}\n\nquery PatientDiagnosisList($id: ID!, $first: Int) {\n  patient(id: $id) {\n    id\n    diagnoses(first: $first) {\n      edges {\n        node {\n          id\n          status\n          version\n        }\n      }\n    }\n  }\n}"): (typeof documents)["query DiagnosisFhir($id: ID!) {\n  diagnosis(id: $id) {\n    id\n    reportStatus\n    fhir\n  }\n}\n\nquery PatientDiagnosisList($id: ID!, $first: Int) {\n  patient(id: $id) {\n    id\n    diagnoses(first: $first) {\n      edges {\n        node {\n          id\n          status\n          version\n        }\n      }\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query PatientObservations($id: ID!, $first: Int, $after: String) {\n  patient(id: $id) {\n    id\n    observations(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          recordedAt\n          recordedById\n          heartRate\n          spo2\n          consciousness\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n}"): (typeof documents)["query PatientObservations($id: ID!, $first: Int, $after: String) {\n  patient(id: $id) {\n    id\n    observations(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          recordedAt\n          recordedById\n          heartRate\n          spo2\n          consciousness\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;