import { useEffect, useState } from 'preact/hooks';

/** The console's screens, in the URL's hash so a reload or a shared link opens the same one. */
export type Route = { name: 'patients' } | { name: 'patient'; id: string };

export function parseRoute(hash: string): Route {
  const match = /^#\/patients\/([^/?#]+)$/.exec(hash);
  return match?.[1] ? { name: 'patient', id: decodeURIComponent(match[1]) } : { name: 'patients' };
}

export function href(route: Route): string {
  return route.name === 'patient' ? `#/patients/${encodeURIComponent(route.id)}` : '#/patients';
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    // Only the console's own routes (`#/…`): an in-page anchor such as the skip link's is no new screen.
    const onChange = () => {
      if (window.location.hash.startsWith('#/') || window.location.hash === '')
        setRoute(parseRoute(window.location.hash));
    };
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
