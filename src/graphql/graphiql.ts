import { createHash } from 'node:crypto';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

/** The query parameter that names a GraphiQL asset on the GraphQL endpoint (`/graphql?graphiql-asset=…`). */
const ASSET_PARAM = 'graphiql-asset';

interface Asset {
  readonly body: string | Uint8Array<ArrayBuffer>;
  readonly type: string;
}

interface Assets {
  readonly files: ReadonlyMap<string, Asset>;
  /** Changes with the bundle, so the assets can be cached for good. */
  readonly version: string;
}

/**
 * GraphiQL served by the API itself. Yoga's stock page loads GraphiQL from a CDN, which closed
 * networks cannot reach, and no third-party script belongs on a page holding a clinician's token.
 * The bundle (9 MB, from `@graphql-yoga/render-graphiql`) is loaded on the first visit only, and
 * served beside a small page as cacheable same-origin files rather than inlined into it, so that
 * every visit does not rebuild and resend it.
 */
export class GraphiqlAssets {
  private assets: Promise<Assets> | undefined;

  constructor(private readonly endpoint: string) {}

  /** Yoga's `renderGraphiQL`: the page, which fetches the bundle from {@link plugin}. */
  readonly render = async (options: GraphiQLOptions): Promise<string> => {
    const { version } = await this.load();
    const url = (name: string) => `${this.endpoint}?${ASSET_PARAM}=${name}&v=${version}`;
    // Inside a <script>: no `</script>` may come out of the options.
    const json = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
    const workers = {
      editorWorkerService: url('editor.worker.js'),
      json: url('json.worker.js'),
      graphql: url('graphql.worker.js'),
    };
    return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(options.title ?? 'GraphiQL')}</title>
    <link rel="icon" href="${url('favicon.ico')}" />
    <link rel="stylesheet" href="${url('graphiql.css')}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
    <script>
      const workers = ${json(workers)};
      self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (_moduleId, label) => workers[label] };
      // Before the bundle loads: its graphql-ws client takes the global WebSocket at load time.
      window.WebSocket = ${HEADER_AUTH_SOCKET};
    </script>
    <script src="${url('graphiql.js')}"></script>
    <script>
      YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), ${json(options)});
    </script>
  </body>
</html>
`;
  };

  /** Answers `GET <endpoint>?graphiql-asset=<name>` before anything else runs (assets are public). */
  plugin(): Plugin {
    return {
      onRequest: async ({ request, url, fetchAPI, endResponse }) => {
        const name = url.searchParams.get(ASSET_PARAM);
        if (request.method !== 'GET' || url.pathname !== this.endpoint || name === null) return;
        const { files, version } = await this.load();
        const asset = files.get(name);
        if (!asset) {
          endResponse(new fetchAPI.Response('Not found', { status: 404 }));
          return;
        }
        endResponse(
          new fetchAPI.Response(asset.body, {
            headers: {
              'content-type': asset.type,
              // The page names the version it wants: another version is never this one.
              'cache-control':
                url.searchParams.get('v') === version ? 'public, max-age=31536000, immutable' : 'no-cache',
            },
          }),
        );
      },
    };
  }

  private load(): Promise<Assets> {
    this.assets ??= import('@graphql-yoga/render-graphiql/graphiql').then((bundle) => {
      const js = 'text/javascript; charset=utf-8';
      const files = new Map<string, Asset>([
        ['graphiql.js', { body: bundle.js, type: js }],
        ['graphiql.css', { body: bundle.css, type: 'text/css; charset=utf-8' }],
        ['editor.worker.js', { body: bundle.editorWorkerService, type: js }],
        ['json.worker.js', { body: bundle.jsonWorker, type: js }],
        ['graphql.worker.js', { body: bundle.graphqlWorker, type: js }],
        ['favicon.ico', { body: dataUrlBytes(bundle.favicon), type: 'image/x-icon' }],
      ]);
      const hash = createHash('sha256');
      for (const { body } of files.values()) hash.update(body);
      return { files, version: hash.digest('hex').slice(0, 16) };
    });
    return this.assets;
  }
}

/**
 * GraphiQL's first document: the README's walkthrough as operations to run in order (GraphiQL
 * asks which one when the document holds several). Ids come back in the answers and go into the
 * variables editor. `test/integration/readme.int.test.ts` runs it.
 */
export const WALKTHROUGH_DOCUMENT = `# Clinical Copilot: the README's walkthrough. Run the operations in order (the run button
# asks which); put the ids they answer into the variables below.

# 1. A patient: you join its care team.
mutation CreatePatient {
  createPatient(input: { mrn: "A-1", givenName: "Grace", familyName: "Hopper", birthDate: "1956-12-09", sex: FEMALE }) {
    id
  }
}

# 2. Observations: append-only; the patient keeps the latest value of each.
mutation RecordObservations($patientId: ID!) {
  recordObservations(
    patientId: $patientId
    input: { respiratoryRate: 24, spo2: 93, onSupplementalOxygen: false, systolicBp: 98, heartRate: 118, consciousness: ALERT, temperatureC: 38.9 }
  ) {
    latestObservations { recordedAt }
  }
}

# 3. The assessment: NEWS2 from the model server (LIVE, then CACHE).
query Assessment($patientId: ID!) {
  assessment(patientId: $patientId) { model score riskLevel source factors { name value points } }
}

# 4. A diagnosis: QUEUED at once; a worker runs it.
mutation RequestDiagnosis($patientId: ID!) {
  requestDiagnosis(patientId: $patientId, input: { symptoms: ["fever", "productive cough", "breathlessness"] }) {
    id
    status
  }
}

# 5. Follow it live over graphql-ws: the current state, every change, then the end.
subscription DiagnosisUpdated($diagnosisId: ID!) {
  diagnosisUpdated(id: $diagnosisId) { status progress version result { summary } }
}

# 6. The care-team rule. Put a second clinician's token into the headers
# (\`npm run token -- --sub dr-grace --name "Dr Grace"\`): Patient answers NOT_FOUND, exactly like a
# missing patient. Back with your own token, AddCareTeamMember; then dr-grace's Patient answers.
query Patient($patientId: ID!) {
  patient(id: $patientId) { givenName familyName }
}

mutation AddCareTeamMember($patientId: ID!) {
  addCareTeamMember(patientId: $patientId, clinicianId: "dr-grace") { careTeam { id name } }
}
`;

/** GraphiQL's options: the walkthrough, and the token (if any) pre-filled in the headers editor. */
export function graphiqlOptions(authorization?: string): Pick<GraphiQLOptions, 'headers' | 'defaultQuery'> & {
  variables: string;
} {
  return {
    defaultQuery: WALKTHROUGH_DOCUMENT,
    variables: JSON.stringify(
      { patientId: 'the id CreatePatient answers', diagnosisId: 'the id RequestDiagnosis answers' },
      null,
      2,
    ),
    ...(authorization ? { headers: JSON.stringify({ authorization }) } : {}),
  };
}

/**
 * Runs in the page, as its global WebSocket (the class GraphiQL's graphql-ws client takes, with no
 * option to pass another): subscriptions
 * authenticate with the headers editor as it is when they run — a token typed in by hand too.
 * GraphiQL sends the editor's headers only inside each `subscribe` message
 * (`payload.extensions.headers`), after `connection_init`, where the server authenticates (and
 * closes the socket with 4401 when it finds no token). So this socket answers the client's
 * `connection_init` itself, waits for the first `subscribe`, and only then sends the server a
 * `connection_init` carrying that operation's `authorization` header, holding everything else back
 * until the server's own ack. The server still sees the token before any operation, as the
 * contract requires; a socket keeps the token of its first operation (GraphiQL opens one per run).
 */
const HEADER_AUTH_SOCKET = `class extends WebSocket {
  #onmessage = null;
  #init = undefined;
  #held = undefined;
  set onmessage(handler) {
    this.#onmessage = handler;
    super.onmessage = (event) => {
      if (this.#held) {
        const message = JSON.parse(event.data);
        if (message.type === 'connection_ack') {
          const held = this.#held;
          this.#held = undefined;
          for (const data of held) super.send(data);
          return;
        }
      }
      this.#onmessage?.(event);
    };
  }
  get onmessage() {
    return this.#onmessage;
  }
  send(data) {
    const message = JSON.parse(data);
    if (message.type === 'connection_init' && this.#init === undefined) {
      this.#init = message.payload ?? {};
      queueMicrotask(() => this.#onmessage?.(new MessageEvent('message', { data: '{"type":"connection_ack"}' })));
      return;
    }
    if (message.type === 'subscribe' && this.#init !== null && this.#init !== undefined) {
      const headers = message.payload?.extensions?.headers ?? {};
      const key = Object.keys(headers).find((name) => name.toLowerCase() === 'authorization');
      const payload = key ? { ...this.#init, authorization: headers[key] } : this.#init;
      this.#init = null;
      this.#held = [data];
      super.send(JSON.stringify({ type: 'connection_init', payload }));
      return;
    }
    if (this.#held) this.#held.push(data);
    else super.send(data);
  }
}`;

function dataUrlBytes(dataUrl: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
