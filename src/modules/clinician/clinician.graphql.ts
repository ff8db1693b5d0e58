import { builder } from '../../graphql/builder.js';

/** What the Clinician type exposes: a row of the clinician table or the signed-in viewer. */
export interface ClinicianShape {
  id: string;
  name: string;
  roles: readonly string[];
}

export const ClinicianRef = builder.objectRef<ClinicianShape>('Clinician').implement({
  description: 'A clinician, identified by the subject (`sub`) of their identity token.',
  fields: (t) => ({
    id: t.exposeID('id', { description: "The token's `sub` claim." }),
    name: t.exposeString('name', { description: "Display name, from the token's `name` claim." }),
    roles: t.field({
      type: ['String'],
      description: 'Roles granted by the token: `clinician`, `admin`.',
      resolve: (clinician) => [...clinician.roles],
    }),
  }),
});

builder.queryField('me', (t) =>
  t.field({
    type: ClinicianRef,
    description: 'The signed-in clinician.',
    resolve: (_root, _args, ctx) => ctx.viewer,
  }),
);

// A federation entity: other subgraphs may name a clinician by id (an appointment's clinician).
builder.asEntity(ClinicianRef, {
  key: builder.selection<{ id: string }>('id'),
  resolveReference: (ref, ctx) => ctx.patients.clinician(String(ref.id)),
});
