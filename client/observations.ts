/**
 * The contract's observation ranges (physiologically possible values; out of range is
 * BAD_USER_INPUT): `[min, max, unit]`. The API holds the same table in
 * src/modules/patient/patient.validation.ts; a unit test keeps the two equal. A client checks them
 * before sending, to show a clear error on the field rather than after a round trip.
 */
export const OBSERVATION_RANGES = {
  heartRate: [20, 300, 'beats/min'],
  systolicBp: [40, 300, 'mmHg'],
  diastolicBp: [20, 200, 'mmHg'],
  respiratoryRate: [0, 80, 'breaths/min'],
  temperatureC: [25, 45, '°C'],
  spo2: [50, 100, '%'],
  totalCholesterol: [50, 1000, 'mg/dL'],
  hdlCholesterol: [5, 300, 'mg/dL'],
} as const;

export type MeasuredField = keyof typeof OBSERVATION_RANGES;

/** Why `value` is not a valid `field`, in the API's own words; undefined when it is valid. */
export function observationError(field: MeasuredField, value: number): string | undefined {
  const [min, max, unit] = OBSERVATION_RANGES[field];
  if (Number.isFinite(value) && value >= min && value <= max) return undefined;
  return `${field} must be between ${min} and ${max} ${unit}`;
}
