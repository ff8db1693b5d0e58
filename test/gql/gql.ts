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
    "fragment PatientFields on Patient {\n  id\n  mrn\n  givenName\n  familyName\n  birthDate\n  sex\n  createdAt\n  careTeam {\n    id\n    name\n    roles\n  }\n  latestObservations {\n    heartRate\n    systolicBp\n    diastolicBp\n    respiratoryRate\n    temperatureC\n    spo2\n    onSupplementalOxygen\n    consciousness\n    totalCholesterol\n    hdlCholesterol\n    smoker\n    diabetic\n    onBpTreatment\n    recordedAt\n  }\n}\n\nquery Me {\n  me {\n    id\n    name\n    roles\n  }\n}\n\nquery Patient($id: ID!) {\n  patient(id: $id) {\n    ...PatientFields\n  }\n}\n\nquery Patients($first: Int, $after: String, $search: String) {\n  patients(first: $first, after: $after, search: $search) {\n    edges {\n      cursor\n      node {\n        id\n        mrn\n        familyName\n      }\n    }\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n  }\n}\n\nquery PatientObservations($id: ID!, $first: Int, $after: String) {\n  patient(id: $id) {\n    id\n    observations(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          recordedAt\n          recordedById\n          heartRate\n          spo2\n          consciousness\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n}\n\nmutation CreatePatient($input: CreatePatientInput!) {\n  createPatient(input: $input) {\n    ...PatientFields\n  }\n}\n\nmutation RecordObservations($patientId: ID!, $input: ObservationsInput!) {\n  recordObservations(patientId: $patientId, input: $input) {\n    ...PatientFields\n  }\n}\n\nmutation AddCareTeamMember($patientId: ID!, $clinicianId: ID!) {\n  addCareTeamMember(patientId: $patientId, clinicianId: $clinicianId) {\n    id\n    careTeam {\n      id\n      name\n    }\n  }\n}": typeof types.PatientFieldsFragmentDoc,
};
const documents: Documents = {
    "fragment PatientFields on Patient {\n  id\n  mrn\n  givenName\n  familyName\n  birthDate\n  sex\n  createdAt\n  careTeam {\n    id\n    name\n    roles\n  }\n  latestObservations {\n    heartRate\n    systolicBp\n    diastolicBp\n    respiratoryRate\n    temperatureC\n    spo2\n    onSupplementalOxygen\n    consciousness\n    totalCholesterol\n    hdlCholesterol\n    smoker\n    diabetic\n    onBpTreatment\n    recordedAt\n  }\n}\n\nquery Me {\n  me {\n    id\n    name\n    roles\n  }\n}\n\nquery Patient($id: ID!) {\n  patient(id: $id) {\n    ...PatientFields\n  }\n}\n\nquery Patients($first: Int, $after: String, $search: String) {\n  patients(first: $first, after: $after, search: $search) {\n    edges {\n      cursor\n      node {\n        id\n        mrn\n        familyName\n      }\n    }\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n  }\n}\n\nquery PatientObservations($id: ID!, $first: Int, $after: String) {\n  patient(id: $id) {\n    id\n    observations(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          recordedAt\n          recordedById\n          heartRate\n          spo2\n          consciousness\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n}\n\nmutation CreatePatient($input: CreatePatientInput!) {\n  createPatient(input: $input) {\n    ...PatientFields\n  }\n}\n\nmutation RecordObservations($patientId: ID!, $input: ObservationsInput!) {\n  recordObservations(patientId: $patientId, input: $input) {\n    ...PatientFields\n  }\n}\n\nmutation AddCareTeamMember($patientId: ID!, $clinicianId: ID!) {\n  addCareTeamMember(patientId: $patientId, clinicianId: $clinicianId) {\n    id\n    careTeam {\n      id\n      name\n    }\n  }\n}": types.PatientFieldsFragmentDoc,
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
export function graphql(source: "fragment PatientFields on Patient {\n  id\n  mrn\n  givenName\n  familyName\n  birthDate\n  sex\n  createdAt\n  careTeam {\n    id\n    name\n    roles\n  }\n  latestObservations {\n    heartRate\n    systolicBp\n    diastolicBp\n    respiratoryRate\n    temperatureC\n    spo2\n    onSupplementalOxygen\n    consciousness\n    totalCholesterol\n    hdlCholesterol\n    smoker\n    diabetic\n    onBpTreatment\n    recordedAt\n  }\n}\n\nquery Me {\n  me {\n    id\n    name\n    roles\n  }\n}\n\nquery Patient($id: ID!) {\n  patient(id: $id) {\n    ...PatientFields\n  }\n}\n\nquery Patients($first: Int, $after: String, $search: String) {\n  patients(first: $first, after: $after, search: $search) {\n    edges {\n      cursor\n      node {\n        id\n        mrn\n        familyName\n      }\n    }\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n  }\n}\n\nquery PatientObservations($id: ID!, $first: Int, $after: String) {\n  patient(id: $id) {\n    id\n    observations(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          recordedAt\n          recordedById\n          heartRate\n          spo2\n          consciousness\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n}\n\nmutation CreatePatient($input: CreatePatientInput!) {\n  createPatient(input: $input) {\n    ...PatientFields\n  }\n}\n\nmutation RecordObservations($patientId: ID!, $input: ObservationsInput!) {\n  recordObservations(patientId: $patientId, input: $input) {\n    ...PatientFields\n  }\n}\n\nmutation AddCareTeamMember($patientId: ID!, $clinicianId: ID!) {\n  addCareTeamMember(patientId: $patientId, clinicianId: $clinicianId) {\n    id\n    careTeam {\n      id\n      name\n    }\n  }\n}"): (typeof documents)["fragment PatientFields on Patient {\n  id\n  mrn\n  givenName\n  familyName\n  birthDate\n  sex\n  createdAt\n  careTeam {\n    id\n    name\n    roles\n  }\n  latestObservations {\n    heartRate\n    systolicBp\n    diastolicBp\n    respiratoryRate\n    temperatureC\n    spo2\n    onSupplementalOxygen\n    consciousness\n    totalCholesterol\n    hdlCholesterol\n    smoker\n    diabetic\n    onBpTreatment\n    recordedAt\n  }\n}\n\nquery Me {\n  me {\n    id\n    name\n    roles\n  }\n}\n\nquery Patient($id: ID!) {\n  patient(id: $id) {\n    ...PatientFields\n  }\n}\n\nquery Patients($first: Int, $after: String, $search: String) {\n  patients(first: $first, after: $after, search: $search) {\n    edges {\n      cursor\n      node {\n        id\n        mrn\n        familyName\n      }\n    }\n    pageInfo {\n      hasNextPage\n      hasPreviousPage\n      startCursor\n      endCursor\n    }\n  }\n}\n\nquery PatientObservations($id: ID!, $first: Int, $after: String) {\n  patient(id: $id) {\n    id\n    observations(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          id\n          recordedAt\n          recordedById\n          heartRate\n          spo2\n          consciousness\n        }\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n}\n\nmutation CreatePatient($input: CreatePatientInput!) {\n  createPatient(input: $input) {\n    ...PatientFields\n  }\n}\n\nmutation RecordObservations($patientId: ID!, $input: ObservationsInput!) {\n  recordObservations(patientId: $patientId, input: $input) {\n    ...PatientFields\n  }\n}\n\nmutation AddCareTeamMember($patientId: ID!, $clinicianId: ID!) {\n  addCareTeamMember(patientId: $patientId, clinicianId: $clinicianId) {\n    id\n    careTeam {\n      id\n      name\n    }\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;