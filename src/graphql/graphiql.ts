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
 * GraphiQL's pre-filled token, for its HTTP requests and for graphql-ws. The headers editor reaches
 * a WebSocket only inside each `subscribe` message (`extensions.headers`), after `connection_init`
 * has been refused for want of a token; GraphiQL hands its `connectionParams` option to its
 * graphql-ws client as the `connection_init` payload, which is where the server authenticates.
 */
export function graphiqlAuth(authorization: string): Pick<GraphiQLOptions, 'headers'> & {
  connectionParams: { authorization: string };
} {
  return { headers: JSON.stringify({ authorization }), connectionParams: { authorization } };
}

function dataUrlBytes(dataUrl: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
